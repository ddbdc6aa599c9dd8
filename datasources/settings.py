"""Every endpoint and knob, from the environment (`CG_` prefix).

Switching an engine is configuration, never code: production sets the endpoints of real
services here; the embedded default starts moto in process when `CG_EMBEDDED` is true.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from datasources.envsettings import EnvSettings, SecretStr, setting


class Settings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_"

    # --- serving ---
    host: str = "127.0.0.1"
    port: int = 8000
    graphiql: bool = True
    max_body_bytes: int = setting(default=1_048_576, ge=1024)

    # --- AWS ---
    embedded: bool = setting(
        default=False, description="Start moto's server in process for every AWS service."
    )
    aws_region: str = setting(default="us-east-1", env=("CG_AWS_REGION", "AWS_REGION"))
    dynamodb_endpoint: str | None = setting(
        default=None,
        env=("CG_DYNAMODB_ENDPOINT", "AWS_ENDPOINT_URL_DYNAMODB"),
    )
    table_prefix: str = "cg-"
    # botocore's default pool of 10 silently caps fan-out (docs/performance.md).
    dynamodb_max_pool_connections: int = setting(default=64, ge=1)
    dynamodb_timeout_seconds: float = setting(default=3.0, gt=0)

    # --- pagination and writes ---
    token_secret: SecretStr = SecretStr("dev-only-change-me")
    cart_write_max_attempts: int = setting(default=250, ge=1)
    cart_ttl_days: int = setting(default=30, ge=1)

    # --- checkout ---
    tax_default_country: str = setting(
        default="US",
        min_length=2,
        max_length=2,
        description="Where a cart is taxed when neither it, its store nor its customer says.",
    )
    tax_cache_seconds: float = setting(
        default=300.0, ge=0, description="How long a displayed cart's tax calculation is reused."
    )
    loyalty_point_value: Decimal = setting(
        default=Decimal("0.01"), gt=0, description="What one loyalty point takes off an order."
    )

    # --- demo data ---
    seed_products: int = setting(default=2000, ge=1)
    seed_customers: int = setting(default=200, ge=1)
    seed_orders: int = setting(default=300, ge=0)
    seed_random_seed: int = 20261123
