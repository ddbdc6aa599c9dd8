"""The edge's one entry to auth: request in, `Caller` out, or a refusal.

Build it once at start-up with `open_authenticator(settings, dynamo=...)` (it opens the HTTP
session for JWKS and, for a deployed Lambda authorizer, the `lambda` client) and call
`authenticate` from the endpoint's `context_getter`. Refusals are `UnauthorizedError`s
(401; IAM's are 403 subclasses), raised before any GraphQL runs; a backend failure (DynamoDB
down, no JWKS reachable) is a 500 through the edge's generic path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import cast

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from starlette.requests import Request

from appsync.auth.api_key import ApiKeyAuthenticator
from appsync.auth.iam import SigV4Verifier
from appsync.auth.identity import Caller, Identity
from appsync.auth.jwt import (
    CognitoVerifier,
    HttpJsonFetcher,
    JsonFetcher,
    JwksCache,
    OidcVerifier,
    fixed_url,
    oidc_jwks_url,
)
from appsync.auth.lambda_authorizer import (
    AuthorizerFunction,
    LambdaAuthorizer,
    LambdaInvokeClient,
    deployed_authorizer,
    python_authorizer,
)
from appsync.auth.modes import AuthMode, select_mode
from appsync.auth.settings import AuthSettings
from datasources.dynamodb.apikeys import ApiKeyStore
from datasources.dynamodb.client import DynamoClient

__all__ = ["Authenticator", "open_authenticator"]

Clock = Callable[[], float]


class Authenticator:
    def __init__(
        self,
        modes: frozenset[AuthMode],
        *,
        oidc_issuer: str | None = None,
        api_keys: ApiKeyAuthenticator | None = None,
        cognito: CognitoVerifier | None = None,
        oidc: OidcVerifier | None = None,
        iam: SigV4Verifier | None = None,
        lambda_authorizer: LambdaAuthorizer | None = None,
    ) -> None:
        verifiers = {
            AuthMode.API_KEY: api_keys,
            AuthMode.AMAZON_COGNITO_USER_POOLS: cognito,
            AuthMode.OPENID_CONNECT: oidc,
            AuthMode.AWS_IAM: iam,
            AuthMode.AWS_LAMBDA: lambda_authorizer,
        }
        missing = sorted(mode for mode in modes if verifiers[mode] is None)
        if missing:
            raise ValueError(f"no verifier for configured modes: {', '.join(missing)}")
        self.modes = modes
        self._oidc_issuer = oidc_issuer
        self.api_keys = api_keys
        self._cognito = cognito
        self._oidc = oidc
        self._iam = iam
        self._lambda = lambda_authorizer

    async def authenticate(
        self,
        request_headers: Mapping[str, str],
        body: bytes | None,
        method: str = "POST",
        path: str = "/graphql",
        query: str = "",
        source_ip: str | None = None,
        *,
        request_id: str | None = None,
    ) -> Caller:
        """Authenticate one request (APPSYNC.md §2.3).

        `body` must be the raw bytes as received (AWS_IAM signs them); `path` and `query` as
        on the wire, percent-encoding kept. `request_id` is passed to Lambda authorizers.
        """
        headers = {name.lower(): value for name, value in request_headers.items()}
        mode = select_mode(headers, self.modes, oidc_issuer=self._oidc_issuer)
        identity: Identity
        if mode is AuthMode.API_KEY:
            assert self.api_keys is not None
            identity = await self.api_keys.authenticate(headers["x-api-key"])
        elif mode is AuthMode.AWS_IAM:
            assert self._iam is not None
            identity = self._iam.verify(headers, body or b"", method=method, path=path, query=query)
        elif mode is AuthMode.AMAZON_COGNITO_USER_POOLS:
            assert self._cognito is not None
            identity = await self._cognito.verify(headers["authorization"])
        elif mode is AuthMode.OPENID_CONNECT:
            assert self._oidc is not None
            identity = await self._oidc.verify(headers["authorization"])
        else:
            assert self._lambda is not None
            identity = await self._lambda.authorize(
                headers["authorization"],
                headers=headers,
                body=body or b"",
                request_id=request_id or str(uuid.uuid4()),
            )
        return Caller.of(identity, source_ip=source_ip, headers=headers)

    async def authenticate_request(
        self, request: Request, body: bytes, *, request_id: str | None = None
    ) -> Caller:
        """`authenticate` for a Starlette request whose body was already read as `body`.

        The source IP is the peer address; behind a proxy, run uvicorn with
        `--proxy-headers --forwarded-allow-ips=<proxy>` rather than trusting
        `X-Forwarded-For` here.
        """
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        query = request.scope.get("query_string", b"").decode("latin-1")
        return await self.authenticate(
            request.headers,
            body,
            request.method,
            path,
            query,
            request.client.host if request.client else None,
            request_id=request_id,
        )


@asynccontextmanager
async def open_authenticator(
    settings: AuthSettings,
    *,
    dynamo: DynamoClient | None = None,
    http: aiohttp.ClientSession | None = None,
    fetch_json: JsonFetcher | None = None,
    lambda_client: LambdaInvokeClient | None = None,
    clock: Clock = time.time,
) -> AsyncIterator[Authenticator]:
    """The authenticator for `settings`, with the clients it needs opened (and closed)."""
    modes = settings.modes
    async with AsyncExitStack() as stack:
        jwt_modes = {AuthMode.AMAZON_COGNITO_USER_POOLS, AuthMode.OPENID_CONNECT} & modes
        if fetch_json is None and jwt_modes:
            if http is None:
                http = await stack.enter_async_context(aiohttp.ClientSession())
            fetch_json = HttpJsonFetcher(http, timeout_seconds=settings.http_timeout_seconds)

        def jwks(url: Callable[[], Awaitable[str]]) -> JwksCache:
            assert fetch_json is not None
            return JwksCache(
                url,
                fetch_json,
                max_age_seconds=settings.jwks_max_age_seconds,
                min_refresh_seconds=settings.jwks_min_refresh_seconds,
                clock=clock,
            )

        api_keys = cognito = oidc = iam = authorizer = None
        if AuthMode.API_KEY in modes:
            if dynamo is None:
                raise ValueError("API_KEY needs the DynamoDB client (dynamo=...)")
            api_keys = ApiKeyAuthenticator(
                ApiKeyStore(dynamo, clock=clock),
                cache_seconds=settings.api_key_cache_seconds,
                cache_size=settings.api_key_cache_size,
                clock=clock,
            )
        if AuthMode.AMAZON_COGNITO_USER_POOLS in modes:
            cognito = CognitoVerifier(
                jwks(fixed_url(settings.cognito_jwks_url)),
                issuer=settings.cognito_issuer,
                app_id_client_regex=settings.app_id_client_regex,
                default_action=settings.default_action,
                clock=clock,
            )
        if AuthMode.OPENID_CONNECT in modes:
            assert settings.oidc_issuer is not None
            assert fetch_json is not None
            oidc = OidcVerifier(
                jwks(oidc_jwks_url(settings.oidc_issuer, fetch_json)),
                issuer=settings.oidc_issuer,
                client_id=settings.oidc_client_id,
                iat_ttl_ms=settings.oidc_iat_ttl_ms,
                auth_ttl_ms=settings.oidc_auth_ttl_ms,
                algorithms=settings.oidc_algorithms,
                clock=clock,
            )
        if AuthMode.AWS_IAM in modes:
            if not settings.iam_credentials:
                raise ValueError("AWS_IAM needs at least one entry in iam_credentials")
            iam = SigV4Verifier(
                settings.iam_credentials,
                region=settings.iam_region,
                clock_skew_seconds=settings.iam_clock_skew_seconds,
                clock=clock,
            )
        if AuthMode.AWS_LAMBDA in modes:
            authorizer = LambdaAuthorizer(
                await _authorizer_function(settings, stack, lambda_client),
                api_id=settings.api_id,
                account_id=settings.account_id,
                ttl_seconds=settings.authorizer_result_ttl_seconds,
                identity_validation_expression=settings.identity_validation_expression,
                timeout_seconds=settings.lambda_timeout_seconds,
                cache_size=settings.lambda_cache_size,
                clock=clock,
            )
        yield Authenticator(
            modes,
            oidc_issuer=settings.oidc_issuer,
            api_keys=api_keys,
            cognito=cognito,
            oidc=oidc,
            iam=iam,
            lambda_authorizer=authorizer,
        )


async def _authorizer_function(
    settings: AuthSettings, stack: AsyncExitStack, client: LambdaInvokeClient | None
) -> AuthorizerFunction:
    if settings.lambda_authorizer is not None:
        return python_authorizer(
            settings.lambda_authorizer,
            account_id=settings.account_id,
            region=settings.iam_region,
            timeout_seconds=settings.lambda_timeout_seconds,
        )
    assert settings.lambda_function_arn is not None
    if client is None:
        config = AioConfig(
            connect_timeout=settings.http_timeout_seconds,
            read_timeout=settings.lambda_timeout_seconds,
            retries={"mode": "standard", "max_attempts": 1},
        )
        opened = await stack.enter_async_context(
            get_session().create_client(
                "lambda",
                region_name=settings.lambda_region,
                endpoint_url=settings.lambda_endpoint,
                config=config,
            )
        )
        client = cast(LambdaInvokeClient, opened)
    return deployed_authorizer(client, settings.lambda_function_arn)
