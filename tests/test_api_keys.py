"""API keys: AppSync's format and expiry rules, hashed storage, 401s — on both engines."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import pytest

from appsync.auth.api_key import ApiKeyAuthenticator
from appsync.auth.modes import NOT_AUTHORIZED
from appsync.errors import UnauthorizedError
from auth_helpers import open_test_dynamo
from datasources.dynamodb.apikeys import (
    APIKEYS,
    DAY,
    ApiKeyNotFoundError,
    ApiKeyStore,
    ApiKeyValidityError,
    create_api_key,
    hash_api_key,
    list_api_keys,
    new_api_key,
    revoke_api_key,
)
from datasources.dynamodb.client import DynamoClient
from datasources.dynamodb.tables import create_tables

pytestmark = pytest.mark.engine

ENGINES = ("dynamodb-local", "moto")
NOW = 1_800_001_234.0  # a fixed instant, 20 min 34 s past an hour (2027-01-15)


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module", params=ENGINES)
async def dynamo(
    request: pytest.FixtureRequest, engine_endpoints: dict[str, str]
) -> AsyncIterator[DynamoClient]:
    async with open_test_dynamo(engine_endpoints[request.param]) as client:
        yield client


def authenticator(
    dynamo: DynamoClient, clock: Clock, *, cache_seconds: float = 5.0
) -> ApiKeyAuthenticator:
    return ApiKeyAuthenticator(
        ApiKeyStore(dynamo, clock=clock), cache_seconds=cache_seconds, cache_size=16, clock=clock
    )


async def test_a_new_key_has_appsync_format_and_default_expiry(dynamo: DynamoClient) -> None:
    # given / when
    created = await ApiKeyStore(dynamo, clock=Clock()).create(description="storefront")

    # then: da2- + 26 lower-case base32 characters; 7 days, rounded down to the hour
    assert re.fullmatch(r"da2-[a-z2-7]{26}", created.key)
    assert created.record.expires == 1_800_604_800  # NOW + 7 days, rounded down
    assert created.record.expires % 3600 == 0
    assert NOW + 7 * DAY - 3600 < created.record.expires <= NOW + 7 * DAY
    assert created.record.deletes == created.record.expires + 60 * DAY
    assert created.record.hint == created.key[:8]
    assert created.record.key_id == hash_api_key(created.key)[:16]


async def test_only_the_hash_is_stored(dynamo: DynamoClient) -> None:
    # given
    created = await ApiKeyStore(dynamo, clock=Clock()).create()

    # when
    raw = await dynamo.raw.scan(TableName=dynamo.table(APIKEYS.name))

    # then
    dump = repr(raw["Items"])
    assert created.key not in dump
    assert created.key[4:] not in dump
    assert f"KEY#{hash_api_key(created.key)}" in dump


@pytest.mark.parametrize(
    ("days", "accepted"),
    [(0.5, False), (1, True), (30, True), (365, True), (366, False)],
)
async def test_expiry_bounds(dynamo: DynamoClient, days: float, accepted: bool) -> None:
    store = ApiKeyStore(dynamo, clock=Clock())
    expires = int(NOW + days * DAY)
    if accepted:
        created = await store.create(expires=expires)
        assert created.record.expires == expires - expires % 3600
    else:
        with pytest.raises(ApiKeyValidityError, match="minimum of 1 day"):
            await store.create(expires=expires)


async def test_valid_key_authenticates(dynamo: DynamoClient) -> None:
    clock = Clock()
    created = await ApiKeyStore(dynamo, clock=clock).create()

    identity = await authenticator(dynamo, clock).authenticate(created.key)

    assert identity.key_id == created.record.key_id
    assert identity.to_appsync() is None  # AppSync: identity is null for API_KEY


@pytest.mark.parametrize(
    "key",
    [
        "",
        "da2-short",
        "da2-" + "a" * 27,
        "da3-" + "a" * 26,
        "da2-" + "a" * 25 + "!",
        "da2-" + "a" * 26 + "\n",
    ],
)
async def test_malformed_keys_never_reach_dynamodb(dynamo: DynamoClient, key: str) -> None:
    before = sum(dynamo.calls.values())

    with pytest.raises(UnauthorizedError) as refused:
        await authenticator(dynamo, Clock()).authenticate(key)

    assert refused.value.message == NOT_AUTHORIZED
    assert refused.value.status_code == 401
    assert sum(dynamo.calls.values()) == before


async def test_unknown_key_is_401(dynamo: DynamoClient) -> None:
    with pytest.raises(UnauthorizedError, match="not authorized"):
        await authenticator(dynamo, Clock()).authenticate("da2-" + "q" * 26)


async def test_expired_key_is_401(dynamo: DynamoClient) -> None:
    # given: a key valid for 1 day, an authenticator whose clock we move
    clock = Clock()
    created = await ApiKeyStore(dynamo, clock=clock).create(expires=int(NOW + DAY + 3600))
    keys = authenticator(dynamo, clock)
    await keys.authenticate(created.key)

    # when: the clock passes `expires` (the record is still cached: caching never extends life)
    clock.now = created.record.expires

    # then
    with pytest.raises(UnauthorizedError) as refused:
        await keys.authenticate(created.key)
    assert refused.value.message == NOT_AUTHORIZED


async def test_revocation_is_honoured_after_the_cache_window(dynamo: DynamoClient) -> None:
    # given: a key in use, cached by the server
    clock = Clock()
    created = await ApiKeyStore(dynamo, clock=clock).create()
    server = authenticator(dynamo, clock, cache_seconds=5)
    await server.authenticate(created.key)

    # when: another process (the CLI) revokes it
    revoked = await revoke_api_key(dynamo, created.key)

    # then: still accepted inside the cache window, refused after it
    assert revoked.revoked_at is not None
    await server.authenticate(created.key)
    clock.now += 5
    with pytest.raises(UnauthorizedError):
        await server.authenticate(created.key)


async def test_forget_drops_a_revoked_key_at_once(dynamo: DynamoClient) -> None:
    clock = Clock()
    store = ApiKeyStore(dynamo, clock=clock)
    created = await store.create()
    server = authenticator(dynamo, clock, cache_seconds=60)
    await server.authenticate(created.key)

    await store.revoke(created.record.key_id)
    server.forget(created.key)

    with pytest.raises(UnauthorizedError):
        await server.authenticate(created.key)


async def test_lookups_are_cached_hits_and_misses(dynamo: DynamoClient) -> None:
    clock = Clock()
    created = await ApiKeyStore(dynamo, clock=clock).create()
    server = authenticator(dynamo, clock)
    unknown = "da2-" + "z" * 26

    before = dynamo.calls["get_item"]
    for _ in range(3):
        await server.authenticate(created.key)
        with pytest.raises(UnauthorizedError):
            await server.authenticate(unknown)

    assert dynamo.calls["get_item"] - before == 2  # one per distinct key


async def test_list_and_revoke_by_key_id(dynamo: DynamoClient) -> None:
    # given
    first = await create_api_key(dynamo, description="pos")
    second = await create_api_key(dynamo, description="web")

    # when
    revoked = await revoke_api_key(dynamo, second.record.key_id[:10])
    listed = {record.key_id: record for record in await list_api_keys(dynamo)}

    # then
    assert listed[first.record.key_id].revoked_at is None
    assert listed[second.record.key_id].revoked_at == revoked.revoked_at
    assert listed[second.record.key_id].description == "web"
    assert all(first.key not in repr(record) for record in listed.values())


async def test_revoke_refuses_unknown_or_vague_ids(dynamo: DynamoClient) -> None:
    with pytest.raises(ApiKeyNotFoundError):
        await revoke_api_key(dynamo, "da2-" + "x" * 26)
    with pytest.raises(ApiKeyNotFoundError):
        await revoke_api_key(dynamo, "0123")  # too short to name one key
    with pytest.raises(ApiKeyNotFoundError):
        await revoke_api_key(dynamo, "not-hex-at-all")


async def test_revoking_twice_keeps_the_first_time(dynamo: DynamoClient) -> None:
    clock = Clock()
    store = ApiKeyStore(dynamo, clock=clock)
    created = await store.create()
    first = await store.revoke(created.key)
    clock.now += 60
    assert (await store.revoke(created.key)).revoked_at == first.revoked_at


async def test_table_creation_is_idempotent(dynamo: DynamoClient) -> None:
    assert await create_tables(dynamo, (APIKEYS,)) == []


async def test_real_clock_default(dynamo: DynamoClient) -> None:
    created = await create_api_key(dynamo)
    assert created.record.created_at == pytest.approx(time.time(), abs=5)
    assert await ApiKeyStore(dynamo).find(created.key) == created.record


async def test_a_key_made_before_dynamodb_opened_can_be_stored(dynamo: DynamoClient) -> None:
    # given: the dev key GraphiQL is built with, before the lifespan opens DynamoDB
    key = new_api_key()

    # when
    created = await create_api_key(dynamo, description="dev", key=key)

    # then
    assert created.key == key
    assert await authenticator(dynamo, Clock(time.time())).authenticate(key)
    with pytest.raises(ValueError, match="new_api_key"):
        await create_api_key(dynamo, key="da2-" + "1" * 26)
