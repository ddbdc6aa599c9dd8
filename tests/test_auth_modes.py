"""Auth modes as AppSync applies them (APPSYNC.md §2.3, §2.5, §2.6, §4.2), with real credentials.

Cognito tokens come from moto's cognito-idp and are checked against its JWKS over HTTP; OIDC
tokens from a real issuer served over HTTP; SigV4 requests are signed by botocore; API keys
live in moto's DynamoDB. See tests/auth_helpers.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
import pytest
import strawberry
from aiobotocore.session import get_session
from aiobotocore.stub import AioStubber
from botocore.stub import ANY
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.scalars import JSON

from appsync.auth import AuthMode, AuthSettings, Caller, open_authenticator
from appsync.auth.api_key import MISSING, TtlCache
from appsync.auth.authenticator import Authenticator
from appsync.auth.jwt import HttpJsonFetcher
from appsync.auth.lambda_authorizer import LambdaAuthorizer
from appsync.auth.modes import (
    NO_VALID_HEADER,
    NOT_AUTHORIZED,
    TOKEN_EXPIRED,
    UNPARSEABLE_JWT,
    select_mode,
)
from appsync.errors import InternalFailureError, UnauthorizedError
from appsync.http import GraphQLEndpoint
from auth_helpers import (
    API_HOST,
    REGION,
    CognitoPool,
    OidcIssuer,
    create_cognito_pool,
    flip_signature_byte,
    hmac_signed_with,
    open_test_dynamo,
    segments,
    serve_oidc_issuer,
    sigv4_headers,
    unsigned,
    with_claims,
)
from datasources.dynamodb.apikeys import ApiKeyStore

pytestmark = pytest.mark.engine

API_KEY, IAM, COGNITO, OIDC, LAMBDA = (
    AuthMode.API_KEY,
    AuthMode.AWS_IAM,
    AuthMode.AMAZON_COGNITO_USER_POOLS,
    AuthMode.OPENID_CONNECT,
    AuthMode.AWS_LAMBDA,
)
CLIENT_IP = "203.0.113.9"
BODY = b'{"query":"query Me { me }","operationName":"Me","variables":{"a":1}}'
ACCESS_KEY = "AKIAPOSDEVICE0000001"
SECRET_KEY = "pos-device-secret-0001"
DEVICE_ARN = "arn:aws:iam::123456789012:user/pos/store-42-till-1"


async def refused(call: Awaitable[object]) -> UnauthorizedError:
    with pytest.raises(UnauthorizedError) as info:
        await call
    return info.value


# --- §2.3 mode selection -------------------------------------------------------------------


def fake_jwt(issuer: str) -> str:
    # Routing reads `iss` only; these tokens are never verified.
    return ".".join(
        [
            "eyJhbGciOiJSUzI1NiJ9",
            base64.urlsafe_b64encode(json.dumps({"iss": issuer}).encode()).decode(),
            "c2ln",
        ]
    )


COGNITO_JWT = fake_jwt("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool")
OIDC_ISSUER = "https://login.example.com/"
OIDC_JWT = fake_jwt("https://login.example.com")
OTHER_JWT = fake_jwt("https://elsewhere.example.com")
SIGV4 = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/appsync/aws4_request, ..."
KEY = {"x-api-key": "da2-" + "a" * 26}

SELECTION = [
    # (headers, configured modes, chosen mode or refusal message)
    (KEY, {API_KEY}, API_KEY),
    (KEY | {"authorization": COGNITO_JWT}, {API_KEY, COGNITO}, API_KEY),
    (KEY | {"authorization": COGNITO_JWT}, {COGNITO}, COGNITO),
    (KEY, {COGNITO}, NO_VALID_HEADER),
    ({"x-api-key": ""}, {API_KEY}, NO_VALID_HEADER),
    ({}, {API_KEY, COGNITO, IAM, OIDC, LAMBDA}, NO_VALID_HEADER),
    ({"authorization": SIGV4}, {IAM}, IAM),
    ({"authorization": SIGV4}, {API_KEY, IAM, COGNITO}, IAM),
    ({"authorization": SIGV4}, {COGNITO}, UNPARSEABLE_JWT),
    ({"authorization": SIGV4}, {COGNITO, LAMBDA}, LAMBDA),
    ({"authorization": SIGV4}, {API_KEY}, NO_VALID_HEADER),
    ({"authorization": COGNITO_JWT}, {COGNITO}, COGNITO),
    ({"authorization": COGNITO_JWT}, {IAM, COGNITO}, COGNITO),
    ({"authorization": COGNITO_JWT}, {OIDC}, NOT_AUTHORIZED),
    ({"authorization": COGNITO_JWT}, {LAMBDA}, LAMBDA),
    ({"authorization": OIDC_JWT}, {OIDC}, OIDC),
    ({"authorization": OIDC_JWT}, {COGNITO, OIDC}, OIDC),
    ({"authorization": OIDC_JWT}, {COGNITO}, NOT_AUTHORIZED),
    ({"authorization": OTHER_JWT}, {COGNITO, OIDC}, NOT_AUTHORIZED),
    ({"authorization": OTHER_JWT}, {COGNITO, OIDC, LAMBDA}, LAMBDA),
    ({"authorization": "opaque-token"}, {LAMBDA}, LAMBDA),
    ({"authorization": "opaque-token"}, {API_KEY, IAM}, NO_VALID_HEADER),
    ({"authorization": "opaque-token"}, {OIDC}, UNPARSEABLE_JWT),
    ({"authorization": f"Bearer {COGNITO_JWT}"}, {COGNITO}, UNPARSEABLE_JWT),
]


@pytest.mark.parametrize(("headers", "modes", "expected"), SELECTION)
def test_mode_selection(
    headers: dict[str, str], modes: set[AuthMode], expected: AuthMode | str
) -> None:
    configured = frozenset(modes)
    if isinstance(expected, AuthMode):
        assert select_mode(headers, configured, oidc_issuer=OIDC_ISSUER) is expected
    else:
        with pytest.raises(UnauthorizedError) as info:
            select_mode(headers, configured, oidc_issuer=OIDC_ISSUER)
        assert info.value.message == expected
        assert info.value.status_code == 401


def test_a_cognito_pool_may_be_configured_as_an_oidc_issuer() -> None:
    issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
    assert select_mode({"authorization": COGNITO_JWT}, frozenset({OIDC}), oidc_issuer=issuer) is (
        OIDC
    )


def test_settings_refuse_incomplete_modes() -> None:
    with pytest.raises(ValueError, match="user_pool_id"):
        AuthSettings(default_mode=COGNITO)
    with pytest.raises(ValueError, match="repeat"):
        AuthSettings(default_mode=API_KEY, additional_modes=[API_KEY])
    with pytest.raises(ValueError, match="exactly one"):
        AuthSettings(default_mode=LAMBDA)
    with pytest.raises(ValueError, match="asymmetric"):
        AuthSettings(oidc_algorithms=["HS256"])


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_AUTH_DEFAULT_MODE", "AWS_IAM")
    monkeypatch.setenv("CG_AUTH_ADDITIONAL_MODES", "API_KEY, AWS_LAMBDA")
    monkeypatch.setenv("CG_AUTH_LAMBDA_AUTHORIZER", "auth_helpers:lambda_handler")
    monkeypatch.setenv(
        "CG_AUTH_IAM_CREDENTIALS",
        json.dumps({ACCESS_KEY: {"secret_access_key": SECRET_KEY, "user_arn": DEVICE_ARN}}),
    )
    settings = AuthSettings()
    assert settings.modes == {IAM, API_KEY, LAMBDA}
    assert settings.iam_credentials[ACCESS_KEY].account_id == "123456789012"
    assert settings.iam_credentials[ACCESS_KEY].principal_name == "store-42-till-1"


# --- AMAZON_COGNITO_USER_POOLS (moto) --------------------------------------------------------


@pytest.fixture(scope="session")
def pool(engine_endpoints: dict[str, str]) -> CognitoPool:
    return create_cognito_pool(engine_endpoints["moto"], {"alice": ["staff", "buyers"], "bob": []})


@pytest.fixture(scope="session")
def foreign_pool(engine_endpoints: dict[str, str]) -> CognitoPool:
    return create_cognito_pool(engine_endpoints["moto"], {"alice": ["staff"]})


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class CountingFetch:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self._inner = HttpJsonFetcher(http, timeout_seconds=5)
        self.urls: list[str] = []

    async def __call__(self, url: str) -> Any:
        self.urls.append(url)
        return await self._inner(url)


@asynccontextmanager
async def cognito_auth(
    pool: CognitoPool,
    http: aiohttp.ClientSession,
    *,
    clock: Callable[[], float] = time.time,
    fetch: CountingFetch | None = None,
    **overrides: Any,
) -> AsyncIterator[Authenticator]:
    options: dict[str, Any] = {
        "default_mode": COGNITO,
        "user_pool_id": pool.pool_id,
        "cognito_endpoint": pool.endpoint,
        "app_id_client_regex": re.escape(pool.client_id),
    }
    settings = AuthSettings(**options | overrides)
    async with open_authenticator(
        settings, fetch_json=fetch or CountingFetch(http), clock=clock
    ) as auth:
        yield auth


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": token}


async def test_cognito_id_token_gives_appsync_identity(
    pool: CognitoPool, http: aiohttp.ClientSession
) -> None:
    # given
    id_token, _ = pool.sign_in("alice")

    # when
    async with cognito_auth(pool, http) as auth:
        caller = await auth.authenticate(bearer(id_token), None, source_ip=CLIENT_IP)

    # then: §4.2's shape, keys in AppSync's order
    assert caller.mode is COGNITO
    assert caller.identity is not None
    assert list(caller.identity) == [
        "sub", "issuer", "username", "claims", "sourceIp", "defaultAuthStrategy", "groups",
    ]  # fmt: skip
    claims = segments(id_token)[1]
    assert caller.identity["sub"] == claims["sub"]
    assert caller.identity["issuer"] == pool.issuer
    assert caller.identity["username"] == "alice"
    assert caller.identity["claims"] == claims
    assert caller.identity["sourceIp"] == [CLIENT_IP]
    assert caller.identity["defaultAuthStrategy"] == "ALLOW"
    assert sorted(caller.identity["groups"]) == ["buyers", "staff"]
    assert caller.groups == {"staff", "buyers"}
    assert caller.denied_fields == frozenset()
    assert caller.source_ip == CLIENT_IP
    assert re.fullmatch(r"[0-9a-f]{32}", caller.principal)


async def test_cognito_access_token_and_a_user_without_groups(
    pool: CognitoPool, http: aiohttp.ClientSession
) -> None:
    _, access_token = pool.sign_in("bob")

    async with cognito_auth(pool, http, default_action="DENY") as auth:
        caller = await auth.authenticate(bearer(access_token), None)

    assert caller.identity is not None
    assert caller.identity["username"] == "bob"
    assert caller.identity["groups"] is None  # as AppSync sends it
    assert caller.identity["defaultAuthStrategy"] == "DENY"
    assert caller.identity["sourceIp"] == []
    assert caller.groups == frozenset()


async def test_cognito_jwks_is_fetched_once(pool: CognitoPool, http: aiohttp.ClientSession) -> None:
    fetch = CountingFetch(http)
    id_token, access_token = pool.sign_in("alice")

    async with cognito_auth(pool, http, fetch=fetch) as auth:
        callers = await asyncio.gather(
            *(auth.authenticate(bearer(t), None) for t in [id_token, access_token] * 5)
        )

    assert len(callers) == 10
    assert fetch.urls == [f"{pool.endpoint}/{pool.pool_id}/.well-known/jwks.json"]


async def test_cognito_expired_token(pool: CognitoPool, http: aiohttp.ClientSession) -> None:
    id_token, _ = pool.sign_in("alice")
    exp = segments(id_token)[1]["exp"]

    async with cognito_auth(pool, http, clock=lambda: exp) as auth:
        error = await refused(auth.authenticate(bearer(id_token), None))

    assert error.message == TOKEN_EXPIRED
    assert error.status_code == 401


async def test_cognito_token_from_another_client_is_refused(
    pool: CognitoPool, http: aiohttp.ClientSession
) -> None:
    id_token, access_token = pool.sign_in("alice", client_id=pool.other_client_id)

    async with cognito_auth(pool, http) as auth:
        for token in (id_token, access_token):
            assert (await refused(auth.authenticate(bearer(token), None))).message == NOT_AUTHORIZED
    async with cognito_auth(pool, http, app_id_client_regex=None) as auth:
        await auth.authenticate(bearer(id_token), None)  # no regex: any client of the pool


async def test_cognito_token_from_another_pool_is_refused(
    pool: CognitoPool, foreign_pool: CognitoPool, http: aiohttp.ClientSession
) -> None:
    # moto signs every pool's tokens with one key: only `iss` tells them apart.
    id_token, _ = foreign_pool.sign_in("alice")

    async with cognito_auth(pool, http, app_id_client_regex=None) as auth:
        assert (await refused(auth.authenticate(bearer(id_token), None))).message == NOT_AUTHORIZED


async def test_cognito_forgeries_are_refused(
    pool: CognitoPool, http: aiohttp.ClientSession
) -> None:
    # given: a real token and the pool's real public key
    id_token, _ = pool.sign_in("bob")
    jwks = await HttpJsonFetcher(http, timeout_seconds=5)(
        f"{pool.endpoint}/{pool.pool_id}/.well-known/jwks.json"
    )
    public = RSAKey.import_key(jwks["keys"][0])
    forgeries = {
        "tampered signature": flip_signature_byte(id_token),
        "forged claims": with_claims(id_token, **{"cognito:groups": ["staff"]}),
        "alg none": unsigned(id_token),
        "HS256 with the public PEM": hmac_signed_with(id_token, public.as_pem(), kid="dummy"),
        "HS256 with the public JWK": hmac_signed_with(
            id_token, json.dumps(jwks["keys"][0]).encode(), kid="dummy"
        ),
        "unknown kid": f"{_header(alg='RS256', kid='other')}.{id_token.split('.', 1)[1]}",
    }

    async with cognito_auth(pool, http) as auth:
        await auth.authenticate(bearer(id_token), None)  # the original is fine
        for name, forged in forgeries.items():
            error = await refused(auth.authenticate(bearer(forged), None))
            assert error.message == NOT_AUTHORIZED, name


async def test_cognito_garbage_is_unparseable(
    pool: CognitoPool, http: aiohttp.ClientSession
) -> None:
    async with cognito_auth(pool, http) as auth:
        error = await refused(auth.authenticate(bearer("not-a-jwt"), None))
    assert error.message == UNPARSEABLE_JWT


def _header(**fields: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()


# --- OPENID_CONNECT (a real issuer over HTTP) -----------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def issuer() -> AsyncIterator[OidcIssuer]:
    async with serve_oidc_issuer() as served:
        yield served


@asynccontextmanager
async def oidc_auth(
    issuer: OidcIssuer,
    http: aiohttp.ClientSession,
    *,
    clock: Callable[[], float] = time.time,
    **overrides: Any,
) -> AsyncIterator[Authenticator]:
    settings = AuthSettings(
        **{"default_mode": OIDC, "oidc_issuer": issuer.url, "oidc_client_id": "shop-web"}
        | overrides
    )
    async with open_authenticator(settings, http=http, clock=clock) as auth:
        yield auth


async def test_oidc_discovery_and_identity(issuer: OidcIssuer, http: aiohttp.ClientSession) -> None:
    token = issuer.mint(email="carol@example.com")

    async with oidc_auth(issuer, http) as auth:
        callers = [await auth.authenticate(bearer(token), None) for _ in range(3)]

    assert callers[0].mode is OIDC
    assert callers[0].identity == {
        "sub": "oidc-user-1",
        "issuer": issuer.url,
        "claims": segments(token)[1],
    }
    assert issuer.hits == {"discovery": 1, "jwks": 1}


async def test_oidc_client_id_against_aud(issuer: OidcIssuer, http: aiohttp.ClientSession) -> None:
    async with oidc_auth(issuer, http, oidc_client_id="shop-(web|ios)") as auth:
        await auth.authenticate(bearer(issuer.mint(aud="shop-ios")), None)
        await auth.authenticate(bearer(issuer.mint(aud=["other", "shop-web"])), None)
        for aud in ("shop-web-evil", "other", None):
            error = await refused(auth.authenticate(bearer(issuer.mint(aud=aud)), None))
            assert error.message == NOT_AUTHORIZED


async def test_oidc_time_checks(issuer: OidcIssuer, http: aiohttp.ClientSession) -> None:
    now = int(time.time())
    old = {"iat": now - 600, "auth_time": now - 600}

    async with oidc_auth(issuer, http) as unchecked:  # iatTTL = authTTL = 0: not checked
        await unchecked.authenticate(bearer(issuer.mint(**old)), None)
        expired = issuer.mint(exp=now - 1)
        assert (await refused(unchecked.authenticate(bearer(expired), None))).message == (
            TOKEN_EXPIRED
        )
        early = issuer.mint(nbf=now + 60)
        assert (await refused(unchecked.authenticate(bearer(early), None))).message == (
            NOT_AUTHORIZED
        )
    async with oidc_auth(issuer, http, oidc_iat_ttl_ms=60_000) as iat_ttl:
        await iat_ttl.authenticate(bearer(issuer.mint(auth_time=now - 600)), None)
        error = await refused(iat_ttl.authenticate(bearer(issuer.mint(**old)), None))
        assert error.message == TOKEN_EXPIRED
    async with oidc_auth(issuer, http, oidc_auth_ttl_ms=60_000) as auth_ttl:
        await auth_ttl.authenticate(bearer(issuer.mint(iat=now - 600)), None)
        error = await refused(auth_ttl.authenticate(bearer(issuer.mint(**old)), None))
        assert error.message == TOKEN_EXPIRED
        no_auth_time = issuer.mint(auth_time=None)
        assert (await refused(auth_ttl.authenticate(bearer(no_auth_time), None))).message == (
            NOT_AUTHORIZED
        )


async def test_oidc_key_rotation_refetches_once(
    issuer: OidcIssuer, http: aiohttp.ClientSession
) -> None:
    # given: keys fetched for the first token
    clock = Clock()
    async with oidc_auth(issuer, http, clock=clock) as auth:
        await auth.authenticate(bearer(issuer.mint()), None)
        assert issuer.hits["jwks"] == 1

        # when: the issuer rotates; a token signed with the new key arrives a minute later
        new_key = issuer.rotate()
        clock.now += 61
        await auth.authenticate(bearer(issuer.mint(new_key)), None)

        # then: one refetch; unknown kids right after it do not trigger more
        assert issuer.hits["jwks"] == 2
        stranger = RSAKey.generate_key(2048, parameters={"kid": "k99"})
        for _ in range(3):
            clock.now += 1
            error = await refused(auth.authenticate(bearer(issuer.mint(stranger)), None))
            assert error.message == NOT_AUTHORIZED
        assert issuer.hits == {"discovery": 1, "jwks": 2}


async def test_oidc_key_substitution_and_confusion(
    issuer: OidcIssuer, http: aiohttp.ClientSession
) -> None:
    good = issuer.mint()
    impostor = RSAKey.generate_key(2048, parameters={"kid": issuer.keys[0].kid})
    public_pem = issuer.keys[0].as_pem()

    async with oidc_auth(issuer, http) as auth:
        for forged in (
            issuer.mint(impostor),  # right kid, wrong key
            hmac_signed_with(good, public_pem, kid=issuer.keys[0].kid),
            unsigned(good),
        ):
            assert (await refused(auth.authenticate(bearer(forged), None))).message == (
                NOT_AUTHORIZED
            )


async def test_oidc_discovery_must_name_the_configured_issuer(
    issuer: OidcIssuer, http: aiohttp.ClientSession
) -> None:
    issuer.announced_issuer = "https://evil.example.com"

    async with oidc_auth(issuer, http) as auth:
        with pytest.raises(InternalFailureError):
            await auth.authenticate(bearer(issuer.mint()), None)


async def test_unreachable_issuer_is_a_500_not_a_401(http: aiohttp.ClientSession) -> None:
    async with serve_oidc_issuer() as gone:
        token = gone.mint()
    settings = AuthSettings(default_mode=OIDC, oidc_issuer=gone.url)

    async with open_authenticator(settings, http=http) as auth:
        with pytest.raises(InternalFailureError):
            await auth.authenticate(bearer(token), None)


# --- AWS_IAM (botocore SigV4) -----------------------------------------------------------------


def iam_settings(**overrides: Any) -> AuthSettings:
    credential: dict[str, Any] = {"secret_access_key": SECRET_KEY, "user_arn": DEVICE_ARN}
    credential |= overrides.pop("credential", {})
    return AuthSettings(
        default_mode=IAM, iam_credentials={ACCESS_KEY: credential}, iam_region=REGION, **overrides
    )


@asynccontextmanager
async def iam_auth(
    clock: Callable[[], float] = time.time, **overrides: Any
) -> AsyncIterator[Authenticator]:
    async with open_authenticator(iam_settings(**overrides), clock=clock) as auth:
        yield auth


def signed(body: bytes = BODY, **kwargs: Any) -> dict[str, str]:
    return sigv4_headers(body, access_key=ACCESS_KEY, secret_key=SECRET_KEY, **kwargs)


async def test_iam_signed_request_gives_appsync_identity() -> None:
    async with iam_auth() as auth:
        caller = await auth.authenticate(signed(), BODY, "POST", "/graphql", "", CLIENT_IP)

    assert caller.mode is IAM
    assert caller.identity == {
        "accountId": "123456789012",
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "sourceIp": [CLIENT_IP],
        "username": "store-42-till-1",
        "userArn": DEVICE_ARN,
        "cognitoIdentityAuthType": None,
        "cognitoIdentityAuthProvider": None,
    }
    assert caller.groups == frozenset()


async def test_iam_refusals() -> None:
    headers = signed()
    other_region = sigv4_headers(
        BODY, access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="eu-west-1"
    )
    cases: dict[str, tuple[dict[str, str], bytes, str]] = {
        "tampered body": (headers, BODY.replace(b"Me", b"Us"), "InvalidSignatureException"),
        "wrong secret": (
            sigv4_headers(BODY, access_key=ACCESS_KEY, secret_key="guess"),
            BODY,
            "InvalidSignatureException",
        ),
        "unknown access key": (
            sigv4_headers(BODY, access_key="AKIAUNKNOWN", secret_key=SECRET_KEY),
            BODY,
            "UnrecognizedClientException",
        ),
        "other region": (other_region, BODY, "InvalidSignatureException"),
        "tampered signed header": (
            headers | {"content-type": "text/plain"},
            BODY,
            "InvalidSignatureException",
        ),
        "host not signed": (
            headers | {"authorization": headers["authorization"].replace("content-type;host;", "")},
            BODY,
            "InvalidSignatureException",
        ),
        "malformed": (
            headers | {"authorization": "AWS4-HMAC-SHA256 garbage"},
            BODY,
            "IncompleteSignatureException",
        ),
        "unsigned token sent": (
            headers | {"x-amz-security-token": "stolen"},
            BODY,
            "UnrecognizedClientException",
        ),
    }
    async with iam_auth() as auth:
        for name, (case_headers, body, error_type) in cases.items():
            error = await refused(auth.authenticate(case_headers, body))
            assert (error.status_code, error.error_type) == (403, error_type), name


async def test_iam_unsigned_payload_claim_cannot_hide_a_tampered_body() -> None:
    # botocore signs the x-amz-content-sha256 header's claim instead of hashing the body
    headers = signed(extra={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})

    async with iam_auth() as auth:
        error = await refused(auth.authenticate(headers, b'{"query":"mutation { wipe }"}'))

    assert error.error_type == "InvalidSignatureException"


@pytest.mark.parametrize(
    ("offset", "message"),
    [(-301, "Signature not yet current"), (-299, None), (299, None), (301, "Signature expired")],
)
async def test_iam_clock_skew(offset: int, message: str | None) -> None:
    # given: a request signed now, checked by a server whose clock is `offset` s ahead
    headers = signed()
    async with iam_auth(clock=lambda: time.time() + offset) as auth:
        if message is None:
            await auth.authenticate(headers, BODY)
        else:
            error = await refused(auth.authenticate(headers, BODY))
            assert error.message.startswith(message)
            assert error.status_code == 403


async def test_iam_session_token() -> None:
    async with iam_auth(credential={"session_token": "sts-token-1"}) as auth:
        await auth.authenticate(signed(session_token="sts-token-1"), BODY)
        for token in ("sts-token-2", None):
            error = await refused(auth.authenticate(signed(session_token=token), BODY))
            assert error.error_type == "UnrecognizedClientException"


async def test_iam_through_a_starlette_request_uses_the_raw_path() -> None:
    # given: a request for the path that was signed, and one for another path
    headers = signed(path="/graphql")

    def request(path: str) -> Request:
        return Request(
            {
                "type": "http",
                "method": "POST",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
                "client": (CLIENT_IP, 50000),
            }
        )

    async with iam_auth() as auth:
        caller = await auth.authenticate_request(request("/graphql"), BODY)
        error = await refused(auth.authenticate_request(request("/graphql/other"), BODY))

    assert caller.source_ip == CLIENT_IP
    assert error.error_type == "InvalidSignatureException"


# --- AWS_LAMBDA ------------------------------------------------------------------------------


class RecordingAuthorizer:
    """An authorizer function that records its events and answers what it is told."""

    def __init__(self, answer: Any = None, *, delay: float = 0.0) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer if answer is not None else {"isAuthorized": True}
        self.delay = delay

    async def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        await asyncio.sleep(self.delay)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def lambda_auth(
    function: RecordingAuthorizer,
    *,
    ttl: int = 0,
    expression: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    timeout: float = 1.0,
) -> Authenticator:
    authorizer = LambdaAuthorizer(
        function,
        api_id="commercegraphlocal00000000",
        account_id="000000000000",
        ttl_seconds=ttl,
        identity_validation_expression=expression,
        timeout_seconds=timeout,
        cache_size=8,
        clock=clock,
    )
    return Authenticator(frozenset({LAMBDA}), lambda_authorizer=authorizer)


async def test_lambda_allows_with_resolver_context_and_denied_fields() -> None:
    # given
    function = RecordingAuthorizer(
        {
            "isAuthorized": True,
            "resolverContext": {"tenant": "t-1", "role": "kiosk"},
            "deniedFields": [
                "Mutation.placeOrder",
                "arn:aws:appsync:us-east-1:000000000000:apis/abc/types/Query/fields/orders",
            ],
        }
    )
    auth = lambda_auth(function)

    # when
    caller = await auth.authenticate(
        {"Authorization": "custom-allow", "X-Shop": "42"}, BODY, request_id="req-1"
    )

    # then: resolvers see §2.6's identity; enforcement sees the denied fields
    assert caller.mode is LAMBDA
    assert caller.identity == {"resolverContext": {"tenant": "t-1", "role": "kiosk"}}
    assert caller.denied_fields == {"Mutation.placeOrder", "Query.orders"}
    assert function.events == [
        {
            "authorizationToken": "custom-allow",
            "requestContext": {
                "apiId": "commercegraphlocal00000000",
                "accountId": "000000000000",
                "requestId": "req-1",
                "queryString": "query Me { me }",
                "operationName": "Me",
                "variables": {"a": 1},
            },
            "requestHeaders": {"authorization": "custom-allow", "x-shop": "42"},
        }
    ]


@pytest.mark.parametrize(
    "answer",
    [
        {"isAuthorized": False},
        {"isAuthorized": "yes"},
        {"resolverContext": {}},
        {"isAuthorized": True, "deniedFields": "Query.orders"},
        {"isAuthorized": True, "deniedFields": ["orders"]},
        {"isAuthorized": True, "ttlOverride": "60"},
        ["isAuthorized"],
        RuntimeError("authorizer crashed"),
    ],
)
async def test_lambda_denials_and_bad_answers_are_401(answer: Any) -> None:
    auth = lambda_auth(RecordingAuthorizer(answer))
    error = await refused(auth.authenticate({"Authorization": "t"}, BODY))
    assert (error.status_code, error.message) == (401, NOT_AUTHORIZED)


async def test_lambda_timeout_is_401() -> None:
    auth = lambda_auth(RecordingAuthorizer(delay=0.5), timeout=0.05)
    assert (await refused(auth.authenticate({"Authorization": "t"}, BODY))).status_code == 401


async def test_lambda_identity_validation_expression_is_checked_before_invoking() -> None:
    function = RecordingAuthorizer()
    auth = lambda_auth(function, expression=r"custom-[a-z]+")

    error = await refused(auth.authenticate({"Authorization": "custom-allow!"}, BODY))
    await auth.authenticate({"Authorization": "custom-allow"}, BODY)

    assert error.message == NOT_AUTHORIZED
    assert [event["authorizationToken"] for event in function.events] == ["custom-allow"]


async def test_lambda_answers_are_cached_per_token_for_the_ttl() -> None:
    # given: a 300 s TTL from settings
    clock = Clock()
    function = RecordingAuthorizer({"isAuthorized": True, "resolverContext": {"n": 1}})
    auth = lambda_auth(function, ttl=300, clock=clock)

    # when: two requests with one token (different queries), one with another token
    first = await auth.authenticate({"Authorization": "tok-a"}, BODY)
    second = await auth.authenticate({"Authorization": "tok-a"}, b'{"query":"{ other }"}')
    await auth.authenticate({"Authorization": "tok-b"}, BODY)

    # then: invoked once per token; again after the TTL
    assert [e["authorizationToken"] for e in function.events] == ["tok-a", "tok-b"]
    assert first.identity == second.identity == {"resolverContext": {"n": 1}}
    clock.now += 300
    await auth.authenticate({"Authorization": "tok-a"}, BODY)
    assert len(function.events) == 3


async def test_lambda_ttl_override_and_cached_denials() -> None:
    no_cache = RecordingAuthorizer({"isAuthorized": True, "ttlOverride": 0})
    auth = lambda_auth(no_cache, ttl=300)
    for _ in range(2):
        await auth.authenticate({"Authorization": "t"}, BODY)
    assert len(no_cache.events) == 2

    denial = RecordingAuthorizer({"isAuthorized": False, "ttlOverride": 60})
    auth = lambda_auth(denial)
    for _ in range(2):
        await refused(auth.authenticate({"Authorization": "t"}, BODY))
    assert len(denial.events) == 1

    failing = RecordingAuthorizer(RuntimeError("down"))
    auth = lambda_auth(failing, ttl=300)
    for _ in range(2):
        await refused(auth.authenticate({"Authorization": "t"}, BODY))
    assert len(failing.events) == 2  # failures are never cached


async def test_lambda_handler_by_import_path() -> None:
    settings = AuthSettings(default_mode=LAMBDA, lambda_authorizer="auth_helpers:lambda_handler")

    async with open_authenticator(settings) as auth:
        caller = await auth.authenticate({"Authorization": "custom-allow", "x-shop": "42"}, BODY)
        error = await refused(auth.authenticate({"Authorization": "custom-deny"}, BODY))

    assert caller.identity == {
        "resolverContext": {
            "tenant": "t-1",
            "function": "auth_helpers.lambda_handler",
            "operation": "Me",
            "apiId": "commercegraphlocal00000000",
            "header": "42",
        }
    }
    assert caller.denied_fields == {"Mutation.placeOrder", "Query.orders"}
    assert error.status_code == 401


class Payload:
    """What aiobotocore returns as `Payload`: a body read asynchronously."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    async def read(self) -> bytes:
        return self._raw


async def test_lambda_function_invoked_through_aiobotocore() -> None:
    # given: a stubbed `lambda` client (moto's Lambda needs Docker)
    arn = "arn:aws:lambda:us-east-1:000000000000:function:shop-authorizer"
    settings = AuthSettings(default_mode=LAMBDA, lambda_function_arn=arn)
    expected = {"FunctionName": arn, "InvocationType": "RequestResponse", "Payload": ANY}
    allow = {"isAuthorized": True, "resolverContext": {"via": "lambda"}}
    async with get_session().create_client(
        "lambda", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    ) as client:
        stubber = AioStubber(client)
        stubber.add_response(
            "invoke", {"StatusCode": 200, "Payload": Payload(json.dumps(allow).encode())}, expected
        )
        stubber.add_response(
            "invoke",
            {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": Payload(b"{}")},
            expected,
        )
        with stubber:
            async with open_authenticator(settings, lambda_client=client) as auth:
                # when
                caller = await auth.authenticate({"Authorization": "tok"}, BODY)
                error = await refused(auth.authenticate({"Authorization": "tok-2"}, BODY))

        # then
        stubber.assert_no_pending_responses()
    assert caller.identity == {"resolverContext": {"via": "lambda"}}
    assert error.status_code == 401


# --- hostile input is refused, never a 500 -----------------------------------------------------

AMZ_DATE = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
HOSTILE = [
    "é" * 10,
    "a.b.c",
    "..",
    "x" * 20_000,
    f"{_header(alg='RS256')}.bm90IGpzb24.c2ln",  # claims not JSON
    f"{_header(alg='RS256', kid=7)}.{base64.urlsafe_b64encode(b'{}').decode()}.c2ln",
    f"{_header(alg='RS256')}.{fake_jwt('https://cognito-idp.x').split('.')[1]}.%%%",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 Credential=é/x/y/z/w, SignedHeaders=host;x-amz-date, Signature=é",
    f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{AMZ_DATE[:8]}/{REGION}/appsync/aws4_request,"
    " SignedHeaders=host;x-amz-date, Signature=é",
    f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{AMZ_DATE[:8]}/{REGION}/appsync/aws4_request,"
    " SignedHeaders=x-amz-date;host, Signature=00",
]


@pytest.mark.parametrize("authorization", HOSTILE)
async def test_hostile_authorization_is_refused(
    authorization: str, pool: CognitoPool, http: aiohttp.ClientSession
) -> None:
    async with cognito_auth(
        pool,
        http,
        additional_modes=[IAM],
        iam_credentials={ACCESS_KEY: {"secret_access_key": SECRET_KEY, "user_arn": DEVICE_ARN}},
    ) as auth:
        headers = {"authorization": authorization, "x-amz-date": AMZ_DATE, "host": API_HOST}
        await refused(auth.authenticate(headers, "é".encode()))


# --- the TTL cache shared by API keys and Lambda answers -------------------------------------


def test_ttl_cache_is_bounded_and_expires() -> None:
    clock = Clock()
    cache: TtlCache[str, int | None] = TtlCache(max_entries=2, clock=clock)
    cache.put("a", None, 10)
    cache.put("b", 2, 10)
    assert cache.get("a") is None  # a cached None is not a miss; "a" is now the freshest
    cache.put("c", 3, 10)
    assert cache.get("b") is MISSING  # evicted, least recently used
    clock.now += 10
    assert cache.get("a") is MISSING
    cache.put("d", 4, 0)
    assert cache.get("d") is MISSING  # TTL 0: not cached


# --- through the HTTP edge ------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field
    def whoami(self, info: strawberry.Info) -> JSON:
        caller: Caller = info.context["caller"]
        return {"mode": caller.mode.value, "identity": caller.identity}


SCHEMA = strawberry.Schema(
    Query, extensions=[lambda: ParserCache(maxsize=8), lambda: ValidationCache(maxsize=8)]
)
WHOAMI = {"query": "{ whoami }"}


@pytest.fixture
async def edge(
    engine_endpoints: dict[str, str], pool: CognitoPool, http: aiohttp.ClientSession
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = AuthSettings(
        default_mode=API_KEY,
        additional_modes=[COGNITO, IAM],
        user_pool_id=pool.pool_id,
        cognito_endpoint=pool.endpoint,
        iam_credentials={ACCESS_KEY: {"secret_access_key": SECRET_KEY, "user_arn": DEVICE_ARN}},
    )
    async with (
        open_test_dynamo(engine_endpoints["moto"]) as dynamo,
        open_authenticator(settings, dynamo=dynamo, http=http) as auth,
    ):
        key = (await ApiKeyStore(dynamo).create(description="edge test")).key

        async def context(request: Request) -> dict[str, Any]:
            # The endpoint does not hand over the raw body yet (see the report): b"" here.
            return {"caller": await auth.authenticate_request(request, b"")}

        endpoint = GraphQLEndpoint(
            SCHEMA, context_getter=context, max_body_bytes=4096, graphiql=False
        )
        app = Starlette(routes=[Route("/graphql", endpoint)])
        transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 1234))
        async with httpx.AsyncClient(transport=transport, base_url=f"https://{API_HOST}") as client:
            yield client, key


async def test_edge_answers_api_key_and_cognito_callers(
    edge: tuple[httpx.AsyncClient, str], pool: CognitoPool
) -> None:
    client, key = edge
    id_token, _ = pool.sign_in("alice")

    by_key = await client.post("/graphql", json=WHOAMI, headers={"x-api-key": key})
    by_token = await client.post("/graphql", json=WHOAMI, headers={"Authorization": id_token})

    assert by_key.status_code == 200
    assert by_key.json() == {"data": {"whoami": {"mode": "API_KEY", "identity": None}}}
    whoami = by_token.json()["data"]["whoami"]
    assert whoami["mode"] == "AMAZON_COGNITO_USER_POOLS"
    assert whoami["identity"]["username"] == "alice"
    assert whoami["identity"]["sourceIp"] == [CLIENT_IP]


@pytest.mark.parametrize(
    ("headers", "status", "error_type", "message"),
    [
        ({}, 401, "UnauthorizedException", NO_VALID_HEADER),
        ({"x-api-key": "da2-" + "0" * 26}, 401, "UnauthorizedException", NOT_AUTHORIZED),
        ({"Authorization": "not-a-jwt"}, 401, "UnauthorizedException", UNPARSEABLE_JWT),
        (
            {"Authorization": "AWS4-HMAC-SHA256 Signature=x"},
            403,
            "IncompleteSignatureException",
            None,
        ),
    ],
)
async def test_edge_refusals_have_appsync_bodies(
    edge: tuple[httpx.AsyncClient, str],
    headers: dict[str, str],
    status: int,
    error_type: str,
    message: str | None,
) -> None:
    client, _ = edge

    response = await client.post("/graphql", json=WHOAMI, headers=headers)

    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"] == error_type
    body = response.json()
    assert list(body) == ["errors"]
    assert body["errors"][0]["errorType"] == error_type
    if message is not None:
        assert body["errors"] == [{"errorType": error_type, "message": message}]
