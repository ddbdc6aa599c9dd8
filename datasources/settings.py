"""Every endpoint and knob, from the environment (`CG_` prefix).

Switching an engine is configuration, never code: production sets the endpoints of real
services here; the embedded default starts moto in process when `CG_EMBEDDED` is true.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CG_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- serving ---
    host: str = "127.0.0.1"
    port: int = 8000
    graphiql: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # --- AWS ---
    embedded: bool = Field(
        default=False, description="Start moto's server in process for every AWS service."
    )
    aws_region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("CG_AWS_REGION", "AWS_REGION")
    )
    dynamodb_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CG_DYNAMODB_ENDPOINT", "AWS_ENDPOINT_URL_DYNAMODB"),
    )
    table_prefix: str = "cg-"
    # botocore's default pool of 10 silently caps fan-out (docs/performance.md).
    dynamodb_max_pool_connections: int = Field(default=64, ge=1)
    dynamodb_timeout_seconds: float = Field(default=3.0, gt=0)

    # --- pagination and writes ---
    token_secret: SecretStr = SecretStr("dev-only-change-me")
    cart_write_max_attempts: int = Field(default=250, ge=1)
    cart_ttl_days: int = Field(default=30, ge=1)

    # --- checkout ---
    tax_default_country: str = Field(
        default="US",
        min_length=2,
        max_length=2,
        description="Where a cart is taxed when neither it, its store nor its customer says.",
    )
    tax_cache_seconds: float = Field(
        default=300.0, ge=0, description="How long a displayed cart's tax calculation is reused."
    )
    loyalty_point_value: Decimal = Field(
        default=Decimal("0.01"), gt=0, description="What one loyalty point takes off an order."
    )

    # --- demo data ---
    seed_products: int = Field(default=2000, ge=1)
    seed_customers: int = Field(default=200, ge=1)
    seed_orders: int = Field(default=300, ge=0)
    seed_random_seed: int = 20261123
