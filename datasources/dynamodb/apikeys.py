"""API keys in DynamoDB, stored hashed: AppSync's `CreateApiKey` / `ListApiKeys` / revoke.

A key is `da2-` + 26 characters (16 random bytes in lower-case base32, as AppSync's keys
look). Only its SHA-256 is stored: a plain hash suffices for 128-bit random secrets (no
dictionary to attack) and keeps the lookup one GetItem. The key itself is shown once, by
`create`; `list` shows a key id (the first 16 hex digits of the hash) and a hint.

Expiry follows AppSync (APPSYNC.md §6.2): 7 days by default, at least 1 day and at most
365 days from now, rounded down to the hour; a key is deleted 60 days after it expires
(DynamoDB TTL on `deletes`, like AppSync's `deletes`). Revoking keeps the item, marked
`revokedAt`, until then.

All keys live in one partition (`pk = APIKEY`): AppSync allows 50 keys per API, so the
partition stays small and `list` is one Query.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from datasources import frozen
from datasources.dynamodb.client import DynamoClient
from datasources.dynamodb.tables import APIKEYS
from datasources.errors import ConditionFailedError

__all__ = [
    "APIKEYS",
    "ApiKeyNotFoundError",
    "ApiKeyRecord",
    "ApiKeyStore",
    "ApiKeyValidityError",
    "CreatedApiKey",
    "create_api_key",
    "hash_api_key",
    "list_api_keys",
    "new_api_key",
    "revoke_api_key",
]


KEY_PREFIX = "da2-"
HOUR = 3600
DAY = 24 * HOUR
DEFAULT_VALIDITY = 7 * DAY
MIN_VALIDITY = DAY
MAX_VALIDITY = 365 * DAY
DELETE_AFTER = 60 * DAY
KEY_ID_CHARS = 16
_MIN_KEY_ID_CHARS = 8
_PARTITION = "APIKEY"
_GENERATED = re.compile(r"da2-[a-z2-7]{26}")

Clock = Callable[[], float]


class ApiKeyValidityError(ValueError):
    """The requested expiry is outside AppSync's bounds (1 to 365 days from now)."""


class ApiKeyNotFoundError(LookupError):
    """No key, or more than one, matches what was given to `revoke`."""


@frozen.record
class ApiKeyRecord:
    key_id: str
    hint: str  # `da2-` and the first 4 characters, for people to tell keys apart
    description: str
    created_at: int
    expires: int  # epoch seconds, on the hour
    deletes: int
    revoked_at: int | None = None

    def usable_at(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires


@frozen.record
class CreatedApiKey:
    key: str  # the secret: shown once, never stored
    record: ApiKeyRecord


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


class ApiKeyStore:
    def __init__(self, dynamo: DynamoClient, *, clock: Clock = time.time) -> None:
        self._dynamo = dynamo
        self._table = dynamo.table(APIKEYS.name)
        self._clock = clock

    async def create(
        self, *, description: str = "", expires: int | None = None, key: str | None = None
    ) -> CreatedApiKey:
        """A new key valid until `expires` (epoch seconds; default 7 days from now).

        `key` stores a value made earlier by `new_api_key()` (e.g. the dev key GraphiQL was
        built with before DynamoDB was open); by default a fresh one is made.
        """
        if key is not None and not _GENERATED.fullmatch(key):
            raise ValueError("key must come from new_api_key()")
        now = int(self._clock())
        requested = now + DEFAULT_VALIDITY if expires is None else int(expires)
        if not MIN_VALIDITY <= requested - now <= MAX_VALIDITY:
            raise ApiKeyValidityError(
                "API key must be valid for a minimum of 1 day and a maximum of 365 days."
            )
        expires_at = requested - requested % HOUR
        key = key or new_api_key()
        digest = hash_api_key(key)
        record = ApiKeyRecord(
            key_id=digest[:KEY_ID_CHARS],
            hint=key[: len(KEY_PREFIX) + 4],
            description=description,
            created_at=now,
            expires=expires_at,
            deletes=expires_at + DELETE_AFTER,
        )
        await self._dynamo.put(
            self._table, _to_item(digest, record), condition="attribute_not_exists(pk)"
        )
        return CreatedApiKey(key, record)

    async def find(self, key: str) -> ApiKeyRecord | None:
        """The record of a full key value, or None; strongly consistent (fresh revocations)."""
        item = await self._dynamo.get(
            self._table, {"pk": _PARTITION, "sk": _sort_key(hash_api_key(key))}, consistent=True
        )
        return _from_item(item) if item else None

    async def list_all(self) -> list[ApiKeyRecord]:
        items = await self._query("KEY#")
        return sorted((_from_item(item) for item in items), key=lambda r: r.created_at)

    async def revoke(self, key_or_id: str) -> ApiKeyRecord:
        """Revoke by the full key or by its key id (at least 8 hex digits of it)."""
        if key_or_id.startswith(KEY_PREFIX):
            digest = hash_api_key(key_or_id)
            item = await self._dynamo.get(
                self._table, {"pk": _PARTITION, "sk": _sort_key(digest)}, consistent=True
            )
            items = [item] if item else []
        else:
            key_id = key_or_id.strip().lower()
            if len(key_id) < _MIN_KEY_ID_CHARS or not _is_hex(key_id):
                raise ApiKeyNotFoundError(f"{key_or_id!r} is neither an API key nor a key id.")
            items = await self._query(f"KEY#{key_id}")
        if len(items) != 1:
            raise ApiKeyNotFoundError(
                f"{len(items)} API keys match {key_or_id[:12]!r}; give a longer key id."
                if items
                else f"No API key matches {key_or_id[:12]!r}."
            )
        item = items[0]
        record = _from_item(item)
        if record.revoked_at is not None:
            return record
        revoked = replace(record, revoked_at=int(self._clock()))
        try:
            await self._dynamo.put(
                self._table,
                _to_item(str(item["sk"]).removeprefix("KEY#"), revoked),
                condition="attribute_exists(pk)",
            )
        except ConditionFailedError as exc:  # deleted (TTL) meanwhile
            raise ApiKeyNotFoundError(f"No API key matches {key_or_id[:12]!r}.") from exc
        return revoked

    async def _query(self, sort_prefix: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            items, start = await self._dynamo.query(
                self._table,
                index=None,
                key_condition="pk = :pk AND begins_with(sk, :prefix)",
                values={":pk": _PARTITION, ":prefix": sort_prefix},
                limit=100,
                start_key=start,
            )
            found.extend(items)
            if not start:
                return found


# Plain functions for the `commerce-graph apikey create|list|revoke` command.


async def create_api_key(
    dynamo: DynamoClient,
    *,
    description: str = "",
    expires: int | None = None,
    key: str | None = None,
) -> CreatedApiKey:
    return await ApiKeyStore(dynamo).create(description=description, expires=expires, key=key)


async def list_api_keys(dynamo: DynamoClient) -> list[ApiKeyRecord]:
    return await ApiKeyStore(dynamo).list_all()


async def revoke_api_key(dynamo: DynamoClient, key_or_id: str) -> ApiKeyRecord:
    return await ApiKeyStore(dynamo).revoke(key_or_id)


def _sort_key(digest: str) -> str:
    return f"KEY#{digest}"


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _to_item(digest: str, record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "pk": _PARTITION,
        "sk": _sort_key(digest),
        "keyId": record.key_id,
        "hint": record.hint,
        "description": record.description,
        "createdAt": record.created_at,
        "expires": record.expires,
        "deletes": record.deletes,
        "revokedAt": record.revoked_at,  # dropped by to_wire when None
    }


def _from_item(item: Mapping[str, Any]) -> ApiKeyRecord:
    revoked = item.get("revokedAt")
    return ApiKeyRecord(
        key_id=str(item["keyId"]),
        hint=str(item.get("hint", "")),
        description=str(item.get("description", "")),
        created_at=int(item["createdAt"]),
        expires=int(item["expires"]),
        deletes=int(item["deletes"]),
        revoked_at=None if revoked is None else int(revoked),
    )
