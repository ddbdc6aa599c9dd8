"""The ERP adapter's knobs, from the environment (`CG_ERP_` prefix); docs/erp.md lists them.

A class of its own, like `NeptuneSettings`, so the ERP can be configured without touching the
main `Settings`; `datasources.build` reads both.
"""

from __future__ import annotations

from typing import ClassVar

from datasources.envsettings import EnvSettings, SecretStr, setting
from datasources.resilience import Policy


class ErpSettings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_ERP_"

    # --- where ---
    stock_url: str | None = setting(
        default=None,
        description=(
            "Service root of the stock service, e.g. https://erp.example.com/odata/v4/stock. "
            "None: the embedded demo ERP when CG_EMBEDDED is true, else ERP:Unavailable."
        ),
    )
    pricing_url: str | None = setting(
        default=None, description="Service root of the price-condition service (as stock_url)."
    )
    embedded: bool = setting(
        default=False,
        env=("CG_ERP_EMBEDDED", "CG_EMBEDDED"),
        description="Serve the demo ERP in process when no URL is set (`make run`).",
    )

    # --- auth: basic (a technical user) or a bearer token, never both ---
    user: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = setting(default=None, description="OAuth bearer token.")

    # --- requests ---
    # OData has no multi-get: a batch is `$filter=Key in (...)` in the URL. 100 keys keep the
    # URL near 2 kB, far below the 8-16 kB that gateways and Node accept.
    max_keys_per_request: int = setting(default=100, ge=1, le=500)
    # Sent as `Prefer: odata.maxpagesize`; None leaves the page size to the server. Servers
    # may ignore it (CAP does: its page size is `@cds.query.limit.max`).
    max_page_size: int | None = setting(default=None, ge=1)
    # A guard against a server whose nextLink never ends.
    max_pages: int = setting(default=50, ge=1)

    # --- resilience ---
    timeout_seconds: float = setting(default=0.5, gt=0)
    failure_threshold: int = setting(default=5, ge=1)
    reset_seconds: float = setting(default=30.0, ge=0)
    retries: int = setting(default=2, ge=0)
    max_concurrency: int = setting(default=16, ge=1)
    # A 429/503 asking for a longer wait than this fails at once instead of holding the
    # user's request (docs/resilience.md).
    max_retry_after_seconds: float = setting(default=2.0, ge=0)

    def validate(self) -> None:
        if self.token is not None and self.user is not None:
            raise ValueError("set CG_ERP_USER/CG_ERP_PASSWORD or CG_ERP_TOKEN, not both")
        if (self.user is None) != (self.password is None):
            raise ValueError("CG_ERP_USER and CG_ERP_PASSWORD go together")

    def policy(self) -> Policy:
        # Every request is a GET, so retries are safe; the connection pool matches the
        # bulkhead (see datasources/erp/odata.py) so a slot never waits for a socket.
        return Policy(
            timeout_seconds=self.timeout_seconds,
            failure_threshold=self.failure_threshold,
            reset_seconds=self.reset_seconds,
            max_concurrency=self.max_concurrency,
            retries=self.retries,
            max_retry_after_seconds=self.max_retry_after_seconds,
        )
