"""Real credentials for the auth tests.

- Cognito: a user pool, app clients and users in moto's cognito-idp (the session's moto
  server); tokens come from `admin_initiate_auth`, signed by moto, verified against moto's
  JWKS over HTTP. No hand-made Cognito token anywhere.
- OIDC: a real issuer over HTTP (aiohttp on a free port) with discovery and a JWKS of keys we
  generate, so issuer discovery, rotation, `iatTTL` and `authTTL` can be exercised.
- IAM: requests signed with botocore's `SigV4Auth`, as AWS SDKs sign them.
- Lambda: a Lambda-style handler importable as `auth_helpers:lambda_handler`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from joserfc import jwt
from joserfc.jwk import RSAKey

from datasources.build import open_dynamo
from datasources.dynamodb.client import DynamoClient
from datasources.dynamodb.tables import APIKEYS, create_tables
from datasources.settings import Settings

REGION = "us-east-1"
PASSWORD = "Perm-pass-1!"
API_HOST = "commercegraphlocal00000000.appsync-api.us-east-1.amazonaws.com"

# --- Cognito (moto) ---


@dataclass(frozen=True)
class CognitoPool:
    endpoint: str
    pool_id: str
    client_id: str  # the app client the API accepts
    other_client_id: str  # a client of the same pool that app_id_client_regex leaves out

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.pool_id}"

    def sign_in(self, username: str, *, client_id: str | None = None) -> tuple[str, str]:
        """(id token, access token) from moto, as Amplify would get them."""
        result = _cognito(self.endpoint).admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=client_id or self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]
        return result["IdToken"], result["AccessToken"]


def create_cognito_pool(endpoint: str, users: Mapping[str, Sequence[str]]) -> CognitoPool:
    """A pool with two app clients and `users` (name → groups), passwords set."""
    cognito = _cognito(endpoint)
    pool_id = cognito.create_user_pool(PoolName=f"pool-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]
    clients = [
        cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=name,
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        for name in ("web", "partner")
    ]
    for group in {g for groups in users.values() for g in groups}:
        cognito.create_group(UserPoolId=pool_id, GroupName=group)
    for username, groups in users.items():
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=username,
            TemporaryPassword="Temp-pass-1!",
            MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}],
        )
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True
        )
        for group in groups:
            cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
    return CognitoPool(endpoint, pool_id, clients[0], clients[1])


def _cognito(endpoint: str) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


# --- JWT tampering (never signed with Cognito's key) ---


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, claims, signature = token.split(".")
    return _unb64_json(header), _unb64_json(claims), signature


def flip_signature_byte(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{payload}.{_b64(bytes(raw))}"


def with_claims(token: str, **changes: Any) -> str:
    """The same signature over changed claims (a forged payload)."""
    head, _, signature = token.split(".")
    claims = {**segments(token)[1], **changes}
    return f"{head}.{_b64_json(claims)}.{signature}"


def unsigned(token: str) -> str:
    """`alg: none`, claims kept, no signature."""
    claims = segments(token)[1]
    return f"{_b64_json({'alg': 'none', 'typ': 'JWT'})}.{_b64_json(claims)}."


def hmac_signed_with(token: str, secret: bytes, *, kid: str | None) -> str:
    """HS256 over the token's claims with `secret` (e.g. the issuer's public key)."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{_b64_json(header)}.{_b64_json(segments(token)[1])}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64_json(value: Mapping[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _unb64_json(segment: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return value


# --- OIDC: a real issuer over HTTP ---


@dataclass
class OidcIssuer:
    url: str
    keys: list[RSAKey] = field(default_factory=list)
    announced_issuer: str | None = None  # what discovery claims (None: the real URL)
    hits: dict[str, int] = field(default_factory=lambda: {"discovery": 0, "jwks": 0})

    def rotate(self) -> RSAKey:
        """Publish a new key (and keep the old one), as issuers do when rotating."""
        key = RSAKey.generate_key(2048, parameters={"kid": f"k{len(self.keys) + 1}"})
        self.keys.append(key)
        return key

    def mint(self, key: RSAKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        key = key or self.keys[-1]
        body = {"iss": self.url, "sub": "oidc-user-1", "aud": "shop-web", "iat": now}
        body |= {"exp": now + 600, "auth_time": now, **claims}
        header = {"alg": "RS256", "kid": key.kid}
        return jwt.encode(header, {k: v for k, v in body.items() if v is not None}, key)

    async def _discovery(self, _: web.Request) -> web.Response:
        self.hits["discovery"] += 1
        issuer = self.announced_issuer or self.url
        return web.json_response({"issuer": issuer, "jwks_uri": f"{self.url}/jwks.json"})

    async def _jwks(self, _: web.Request) -> web.Response:
        self.hits["jwks"] += 1
        return web.json_response({"keys": [key.as_dict(private=False) for key in self.keys]})


@asynccontextmanager
async def serve_oidc_issuer() -> AsyncIterator[OidcIssuer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    issuer = OidcIssuer(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    issuer.rotate()
    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", issuer._discovery)
    app.router.add_get("/jwks.json", issuer._jwks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield issuer
    finally:
        await runner.cleanup()


# --- IAM ---


def sigv4_headers(
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    session_token: str | None = None,
    region: str = REGION,
    path: str = "/graphql",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers of a POST signed by botocore for service `appsync`, lower-case names."""
    request = AWSRequest(
        method="POST",
        url=f"https://{API_HOST}{path}",
        data=body,
        headers={"host": API_HOST, "content-type": "application/json", **(extra or {})},
    )
    SigV4Auth(Credentials(access_key, secret_key, session_token), "appsync", region).add_auth(
        request
    )
    return {name.lower(): value for name, value in request.headers.items()}


# --- Lambda ---


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A Lambda authorizer handler, run in process through `auth_helpers:lambda_handler`."""
    if event["authorizationToken"] != "custom-allow":
        return {"isAuthorized": False}
    return {
        "isAuthorized": True,
        "resolverContext": {
            "tenant": "t-1",
            "function": context.function_name,
            "operation": event["requestContext"]["operationName"],
            "apiId": event["requestContext"]["apiId"],
            "header": event["requestHeaders"].get("x-shop", ""),
        },
        "deniedFields": [
            "Mutation.placeOrder",
            "arn:aws:appsync:us-east-1:000000000000:apis/abc/types/Query/fields/orders",
        ],
        "ttlOverride": 0,
    }


# --- DynamoDB ---


@asynccontextmanager
async def open_test_dynamo(endpoint: str) -> AsyncIterator[DynamoClient]:
    """A DynamoClient on `endpoint` with a fresh table prefix and the API-keys table."""
    settings = Settings(dynamodb_endpoint=endpoint, table_prefix=f"cg-auth-{uuid.uuid4().hex[:8]}-")
    async with AsyncExitStack() as stack:
        dynamo = await stack.enter_async_context(open_dynamo(settings, stack))
        await create_tables(dynamo, (APIKEYS,))
        yield dynamo
