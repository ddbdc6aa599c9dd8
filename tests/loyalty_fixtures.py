"""Loyalty engines for tests: one PostgreSQL server per session, and the in-memory source.

Load with `pytest_plugins = ("loyalty_fixtures",)` (tests/test_loyalty.py does). The shared
database is migrated once; tests keep apart by using customer and order ids of their own.
Tests that stop or slow the database start a server of their own (`PostgresServer`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from datasources.envsettings import SecretStr
from datasources.erp.loyalty import PostgresLoyaltySource
from datasources.erp.loyalty_build import open_loyalty
from datasources.erp.loyalty_memory import InMemoryLoyaltySource
from datasources.erp.loyalty_settings import LoyaltySettings
from engines.postgres_server import PostgresServer

LOYALTY_ENGINES = ("postgres", "memory")


def loyalty_settings_for(dsn: str | None, **overrides: Any) -> LoyaltySettings:
    """Generous timeouts for the shared database (a busy CI machine); fault tests pass theirs.
    The pool is wide enough for the concurrency tests to really run concurrently."""
    values: dict[str, Any] = {"timeout_seconds": 5.0, "pool_max_size": 40}
    return LoyaltySettings(dsn=SecretStr(dsn) if dsn else None, **(values | overrides))


SettingsFor = Callable[..., LoyaltySettings]


@pytest.fixture(scope="session")
def make_loyalty_settings() -> SettingsFor:
    """`make_loyalty_settings(dsn, **overrides)`: settings for a database of the test's own."""
    return loyalty_settings_for


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def loyalty_dsn(postgres_server: PostgresServer) -> str:
    """The shared loyalty database (migrated once `postgres_loyalty` has opened)."""
    return postgres_server.dsn


@pytest.fixture(scope="session")
def loyalty_settings(postgres_server: PostgresServer) -> LoyaltySettings:
    """Settings of the shared loyalty database (for an app under test: `CG_LOYALTY_DSN`)."""
    return loyalty_settings_for(postgres_server.dsn)


@pytest.fixture(scope="session")
async def postgres_loyalty(
    loyalty_settings: LoyaltySettings,
) -> AsyncIterator[PostgresLoyaltySource]:
    async with open_loyalty(loyalty_settings, embedded=False) as source:
        assert isinstance(source, PostgresLoyaltySource)
        yield source


@pytest.fixture(scope="session")
def memory_loyalty() -> InMemoryLoyaltySource:
    return InMemoryLoyaltySource()


@pytest.fixture(params=LOYALTY_ENGINES)
def loyalty(request: pytest.FixtureRequest) -> PostgresLoyaltySource | InMemoryLoyaltySource:
    """The contract suite's subject: every test that takes it runs once per engine."""
    source: PostgresLoyaltySource | InMemoryLoyaltySource = request.getfixturevalue(
        f"{request.param}_loyalty"
    )
    return source
