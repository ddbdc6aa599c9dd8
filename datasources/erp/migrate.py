"""Versioned SQL migrations, applied in order at start-up.

    NNNN_description.sql   one file per version, applied once, each in its own transaction,
                           recorded in `schema_migrations` with the SHA-256 of its bytes.

Every starter takes one session-level advisory lock first, so that of several instances
starting together one applies what is pending and the others then find nothing left to do.
A file whose checksum differs from the one recorded when it was applied stops start-up
(`MigrationChecksumError`): an applied migration is history, a change goes in a new file.
A version recorded in the database but absent on disk is tolerated with a warning: during a
rolling deploy the previous release still starts against the newer schema.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any

import asyncpg

from datasources import frozen

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LOYALTY_MIGRATIONS = resources.files(__package__ or "datasources.erp") / "migrations" / "loyalty"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The schema cannot be brought up to date; the process must not serve."""


class MigrationChecksumError(MigrationError):
    """An applied migration's file changed since it was applied."""


@frozen.record
class Migration:
    version: int
    name: str
    sql: str
    checksum: str


def load_migrations(directory: Traversable) -> tuple[Migration, ...]:
    """The migrations in `directory`, by version; other files are ignored."""
    found: dict[int, Migration] = {}
    for entry in directory.iterdir():
        match = _FILE.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations share version {version:04d}")
        data = entry.read_bytes()
        found[version] = Migration(
            version=version,
            name=entry.name,
            sql=data.decode("utf-8"),
            checksum=hashlib.sha256(data).hexdigest(),
        )
    return tuple(found[v] for v in sorted(found))


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock, derived from `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def migrate(
    conn: Connection,
    migrations: Sequence[Migration],
    *,
    lock_name: str = "commerce-graph:loyalty:migrations",
    timeout_seconds: float = 60.0,
) -> tuple[Migration, ...]:
    """Apply what is pending; return what this call applied (empty when up to date).

    `conn` must not be in a transaction: each migration commits on its own, and the advisory
    lock is held by the session across them.
    """
    key = advisory_key(lock_name)
    # Bounded: a starter stuck holding the lock must not hang every other one forever.
    await conn.execute("SELECT pg_advisory_lock($1)", key, timeout=timeout_seconds)
    try:
        await conn.execute(_CREATE_TABLE, timeout=timeout_seconds)
        rows = await conn.fetch(
            "SELECT version, name, checksum FROM schema_migrations", timeout=timeout_seconds
        )
        applied: dict[int, Any] = {row["version"]: row for row in rows}
        _verify(migrations, applied)
        done: list[Migration] = []
        for migration in migrations:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql, timeout=timeout_seconds)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                    timeout=timeout_seconds,
                )
            log.info("applied migration %s", migration.name)
            done.append(migration)
        return tuple(done)
    finally:
        if not conn.is_closed():
            await conn.execute("SELECT pg_advisory_unlock($1)", key, timeout=timeout_seconds)


def _verify(migrations: Sequence[Migration], applied: dict[int, Any]) -> None:
    on_disk = {m.version: m for m in migrations}
    for version, row in sorted(applied.items()):
        migration = on_disk.get(version)
        if migration is None:
            log.warning("migration %s is applied but not known to this release", row["name"])
        elif migration.checksum != row["checksum"]:
            raise MigrationChecksumError(
                f"{migration.name} changed after it was applied (checksum {row['checksum'][:12]}"
                f" recorded, {migration.checksum[:12]} on disk): put changes in a new migration"
            )
    pending = [m.version for m in migrations if m.version not in applied]
    newest = max(applied, default=0)
    if pending and min(pending) < newest:
        # A gap below the newest applied version: applying it now would run it out of order.
        raise MigrationError(
            f"migration {min(pending):04d} is pending below the applied {newest:04d}"
        )
