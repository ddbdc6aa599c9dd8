"""AMAZON_COGNITO_USER_POOLS and OPENID_CONNECT: JWTs verified against the issuer's JWKS.

Checks, in this order, each failure a 401 (APPSYNC.md §2.5):

1. a compact JWS whose `alg` is allowed (Cognito: RS256 only; OIDC: the configured
   asymmetric algorithms). `none` and HMAC algorithms are refused before any key is looked
   at, so a token signed with HS256 and the public key as secret (algorithm confusion) fails;
2. the key named by `kid` in the issuer's JWKS, and the signature (joserfc);
3. `iss`, then the client (`aud` or Cognito's `client_id`), `token_use` for Cognito;
4. `exp` and `nbf`, and OIDC's `iatTTL` / `authTTL` → `Token has expired.` Expiry comes last so
   that only an otherwise valid token learns that it merely expired.

JWKS are fetched on first use (never at start-up, so an unreachable issuer cannot stop the
server), kept for `jwks_max_age_seconds`, and re-fetched when a token names an unknown `kid`
(key rotation) at most every `jwks_min_refresh_seconds`. When keys cannot be fetched and none
are cached the request fails as `InternalFailureError` (500, logged): the caller did nothing
wrong, and a 401 would make clients sign their users out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Literal

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from appsync.auth.identity import CognitoIdentity, OidcIdentity
from appsync.auth.modes import NOT_AUTHORIZED, TOKEN_EXPIRED, UNPARSEABLE_JWT, split_jwt
from appsync.errors import InternalFailureError, UnauthorizedError

__all__ = [
    "CognitoVerifier",
    "HttpJsonFetcher",
    "IssuerUnavailableError",
    "JsonFetcher",
    "JwksCache",
    "OidcVerifier",
]

logger = logging.getLogger(__name__)

JsonFetcher = Callable[[str], Awaitable[Any]]
MAX_DOCUMENT_BYTES = 1_048_576
# With no keys at all, retry the issuer at most this often instead of on every request.
_FAILURE_BACKOFF_SECONDS = 1.0


class IssuerUnavailableError(Exception):
    """The issuer's discovery document or JWKS could not be fetched or read."""


class HttpJsonFetcher:
    """GET a JSON document over the shared aiohttp session (no redirects, bounded size)."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout_seconds: float) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def __call__(self, url: str) -> Any:
        try:
            async with self._session.get(
                url, timeout=self._timeout, allow_redirects=False
            ) as response:
                if response.status != 200:
                    raise IssuerUnavailableError(f"GET {url} answered {response.status}")
                raw = await response.content.read(MAX_DOCUMENT_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise IssuerUnavailableError(f"GET {url} failed: {exc!r}") from exc
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise IssuerUnavailableError(f"GET {url}: document larger than 1 MiB")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise IssuerUnavailableError(f"GET {url}: not JSON") from exc


class JwksCache:
    """The signing keys of one issuer, by `kid`."""

    def __init__(
        self,
        jwks_url: Callable[[], Awaitable[str]],
        fetch: JsonFetcher,
        *,
        max_age_seconds: float,
        min_refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jwks_url = jwks_url
        self._fetch = fetch
        self._max_age = max_age_seconds
        self._min_refresh = min_refresh_seconds
        self._clock = clock
        self._keys: dict[str | None, Key] | None = None
        self._fetched_at = 0.0  # last attempt, successful or not
        self._generation = 0
        self._lock = asyncio.Lock()
        self.fetches = 0  # successful fetches, for tests and metrics

    async def key(self, kid: str | None) -> Key | None:
        """The key for `kid`; None if the issuer does not have it (→ 401).

        Raises `InternalFailureError` when no keys could ever be fetched.
        """
        seen = self._generation
        since = self._clock() - self._fetched_at
        if self._keys is None:
            if seen == 0 or since >= _FAILURE_BACKOFF_SECONDS:
                await self._refresh(seen)
        elif since >= self._max_age:
            await self._refresh(seen)
        if self._keys is None:
            raise InternalFailureError()
        key = self._find(kid)
        if key is None and seen == self._generation and since >= self._min_refresh:
            await self._refresh(seen)  # perhaps a rotated key
            key = self._find(kid)
        return key

    def _find(self, kid: str | None) -> Key | None:
        keys = self._keys or {}
        if kid is None:
            return next(iter(keys.values())) if len(keys) == 1 else None
        return keys.get(kid)

    async def _refresh(self, seen_generation: int) -> None:
        async with self._lock:
            if self._generation != seen_generation:
                return  # another request refreshed while this one waited
            try:
                document = await self._fetch(await self._jwks_url())
                self._keys = _signing_keys(document)
                self.fetches += 1
            except IssuerUnavailableError:
                # Stale keys stay in use: an issuer outage must not lock every user out.
                logger.warning(
                    "JWKS fetch failed (cached keys: %s)", self._keys is not None, exc_info=True
                )
            self._fetched_at = self._clock()
            self._generation += 1


def _signing_keys(document: Any) -> dict[str | None, Key]:
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise IssuerUnavailableError("JWKS document has no `keys` list")
    keys: dict[str | None, Key] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") == "oct":
            continue  # a shared secret published in a JWKS would let anyone sign
        try:
            key = JWKRegistry.import_key(dict(entry))
        except (JoseError, ValueError, TypeError):
            logger.warning("skipping a JWKS entry joserfc cannot import: kid=%s", entry.get("kid"))
            continue
        if key.is_private:
            continue  # an issuer publishing private keys is misconfigured; never trust them
        keys[key.kid] = key
    return keys


class _JwtVerifier:
    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        algorithms: Collection[str],
        clock: Callable[[], float],
    ) -> None:
        self._jwks = jwks
        self._issuer = issuer.rstrip("/")
        self._algorithms = frozenset(algorithms)
        self._clock = clock

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        parts = split_jwt(token)
        if parts is None:
            raise UnauthorizedError(UNPARSEABLE_JWT)
        header = parts[0]
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self._algorithms or not (kid is None or isinstance(kid, str)):
            raise UnauthorizedError(NOT_AUTHORIZED)
        key = await self._jwks.key(kid)
        if key is None or key.alg not in (None, alg):
            raise UnauthorizedError(NOT_AUTHORIZED)
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except Exception as exc:  # any failure on attacker-made input is a refusal, not a 500
            raise UnauthorizedError(NOT_AUTHORIZED) from exc
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self._issuer:
            raise UnauthorizedError(NOT_AUTHORIZED)
        if not isinstance(claims.get("sub"), str):
            raise UnauthorizedError(NOT_AUTHORIZED)
        return claims

    def _check_time(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        exp, nbf = _number(claims.get("exp")), _number(claims.get("nbf"))
        if exp is None or (nbf is None and "nbf" in claims):
            raise UnauthorizedError(NOT_AUTHORIZED)
        if nbf is not None and now < nbf:
            raise UnauthorizedError(NOT_AUTHORIZED)
        if now >= exp:
            raise UnauthorizedError(TOKEN_EXPIRED)


class CognitoVerifier(_JwtVerifier):
    """A Cognito user pool's id and access tokens (RS256)."""

    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        app_id_client_regex: str | None,
        default_action: Literal["ALLOW", "DENY"],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(jwks, issuer=issuer, algorithms=("RS256",), clock=clock)
        self._client = re.compile(app_id_client_regex) if app_id_client_regex else None
        self._default_action: Literal["ALLOW", "DENY"] = default_action

    async def verify(self, token: str) -> CognitoIdentity:
        claims = await self._verified_claims(token)
        token_use = claims.get("token_use")
        if token_use not in ("id", "access"):
            raise UnauthorizedError(NOT_AUTHORIZED)
        client = claims.get("aud" if token_use == "id" else "client_id")
        if not isinstance(client, str) or (
            self._client is not None and not self._client.fullmatch(client)
        ):
            raise UnauthorizedError(NOT_AUTHORIZED)
        self._check_time(claims)
        username = claims.get("cognito:username" if token_use == "id" else "username")
        groups = claims.get("cognito:groups")
        return CognitoIdentity(
            sub=claims["sub"],
            issuer=claims["iss"],
            username=username if isinstance(username, str) else claims["sub"],
            claims=claims,
            default_auth_strategy=self._default_action,
            groups=tuple(g for g in groups if isinstance(g, str))
            if isinstance(groups, list)
            else None,
        )


class OidcVerifier(_JwtVerifier):
    """An OpenID Connect issuer's tokens: `clientId` against `aud`, `iatTTL`, `authTTL`."""

    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        client_id: str | None,
        iat_ttl_ms: int,
        auth_ttl_ms: int,
        algorithms: Collection[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(jwks, issuer=issuer, algorithms=algorithms, clock=clock)
        self._client = re.compile(client_id) if client_id else None
        self._iat_ttl_ms = iat_ttl_ms
        self._auth_ttl_ms = auth_ttl_ms

    async def verify(self, token: str) -> OidcIdentity:
        claims = await self._verified_claims(token)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._client is not None and not any(
            isinstance(a, str) and self._client.fullmatch(a) for a in audiences
        ):
            raise UnauthorizedError(NOT_AUTHORIZED)
        self._check_time(claims)
        now_ms = self._clock() * 1000
        for ttl_ms, claim in ((self._iat_ttl_ms, "iat"), (self._auth_ttl_ms, "auth_time")):
            if ttl_ms == 0:
                continue
            issued = _number(claims.get(claim))
            if issued is None:
                raise UnauthorizedError(NOT_AUTHORIZED)
            if now_ms - issued * 1000 > ttl_ms:
                raise UnauthorizedError(TOKEN_EXPIRED)
        return OidcIdentity(sub=claims["sub"], issuer=claims["iss"], claims=claims)


def oidc_jwks_url(issuer: str, fetch: JsonFetcher) -> Callable[[], Awaitable[str]]:
    """Issuer discovery: `<issuer>/.well-known/openid-configuration` → `jwks_uri`, once.

    The document's `issuer` must equal the configured one (OpenID Connect Discovery §4.3),
    so a misrouted discovery URL cannot substitute another issuer's keys.
    """
    found: list[str] = []

    async def jwks_url() -> str:
        if found:
            return found[0]
        document = await fetch(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        if not isinstance(document, Mapping):
            raise IssuerUnavailableError("discovery document is not a JSON object")
        announced, uri = document.get("issuer"), document.get("jwks_uri")
        if not isinstance(announced, str) or announced.rstrip("/") != issuer.rstrip("/"):
            raise IssuerUnavailableError(f"discovery names issuer {announced!r}, not {issuer!r}")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise IssuerUnavailableError("discovery document has no jwks_uri")
        found.append(uri)
        return uri

    return jwks_url


def fixed_url(url: str) -> Callable[[], Awaitable[str]]:
    async def jwks_url() -> str:
        return url

    return jwks_url


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
