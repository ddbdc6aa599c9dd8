"""AppSync's auth modes and how a request picks one (APPSYNC.md §2.3).

`select_mode` follows §2.3 in order, among the configured modes only:

1. a non-empty `x-api-key` and API_KEY configured → API_KEY (a wrong key is then a 401,
   never a fall-through to another mode);
2. `Authorization` starting with `AWS4-HMAC-SHA256` and AWS_IAM configured → AWS_IAM;
3. `Authorization` a JWT whose `iss` starts with `https://cognito-idp.` and Cognito configured
   → AMAZON_COGNITO_USER_POOLS; whose `iss` equals the OIDC issuer (trailing `/` ignored)
   and OIDC configured → OPENID_CONNECT;
4. any other `Authorization` and AWS_LAMBDA configured → AWS_LAMBDA (the raw value is the
   authorizer's token);
5. otherwise 401.

The refusal messages are the ones AppSync is observed to send (§2.5); which one AppSync picks
for each case is not documented, so the choice below is ours:

- nothing usable sent: `Valid authorization header not provided.`
- an `Authorization` that is not a JWT while a JWT mode is configured:
  `Unable to parse JWT token.` (observed: amplify-js#2645, a SigV4 header sent to a Cognito API)
- a JWT from an issuer no configured mode accepts, and every failed check of a credential
  (bad key, signature, audience, denial): `You are not authorized to make this call.`
- an expired token: `Token has expired.`
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from appsync.errors import UnauthorizedError

__all__ = [
    "DIRECTIVES",
    "NOT_AUTHORIZED",
    "NO_VALID_HEADER",
    "TOKEN_EXPIRED",
    "UNPARSEABLE_JWT",
    "AuthMode",
    "select_mode",
    "split_jwt",
]

NO_VALID_HEADER = "Valid authorization header not provided."
NOT_AUTHORIZED = "You are not authorized to make this call."
TOKEN_EXPIRED = "Token has expired."
UNPARSEABLE_JWT = "Unable to parse JWT token."

SIGV4_PREFIX = "AWS4-HMAC-SHA256"
COGNITO_ISSUER_PREFIX = "https://cognito-idp."
# Far above any real JWT; bounds the work done on a hostile header before verification.
MAX_JWT_CHARS = 16_384


class AuthMode(StrEnum):
    """AppSync's `AuthenticationType` values."""

    API_KEY = "API_KEY"
    AWS_IAM = "AWS_IAM"
    AMAZON_COGNITO_USER_POOLS = "AMAZON_COGNITO_USER_POOLS"
    OPENID_CONNECT = "OPENID_CONNECT"
    AWS_LAMBDA = "AWS_LAMBDA"


# The schema directive that admits each mode (§2.3); `@aws_auth` also means Cognito.
DIRECTIVES: Mapping[AuthMode, str] = {
    AuthMode.API_KEY: "aws_api_key",
    AuthMode.AWS_IAM: "aws_iam",
    AuthMode.AMAZON_COGNITO_USER_POOLS: "aws_cognito_user_pools",
    AuthMode.OPENID_CONNECT: "aws_oidc",
    AuthMode.AWS_LAMBDA: "aws_lambda",
}

_JWT_MODES = frozenset({AuthMode.AMAZON_COGNITO_USER_POOLS, AuthMode.OPENID_CONNECT})


def select_mode(
    headers: Mapping[str, str], modes: frozenset[AuthMode], *, oidc_issuer: str | None = None
) -> AuthMode:
    """The mode that authenticates this request; `headers` have lower-case names.

    Raises `UnauthorizedError` when no configured mode can take the request.
    """
    if headers.get("x-api-key") and AuthMode.API_KEY in modes:
        return AuthMode.API_KEY
    authorization = headers.get("authorization", "")
    if not authorization:
        raise UnauthorizedError(NO_VALID_HEADER)
    if AuthMode.AWS_IAM in modes and authorization.startswith(SIGV4_PREFIX):
        return AuthMode.AWS_IAM
    parts = split_jwt(authorization)
    issuer = parts[1].get("iss") if parts else None
    if isinstance(issuer, str):
        if AuthMode.AMAZON_COGNITO_USER_POOLS in modes and issuer.startswith(COGNITO_ISSUER_PREFIX):
            return AuthMode.AMAZON_COGNITO_USER_POOLS
        if (
            AuthMode.OPENID_CONNECT in modes
            and oidc_issuer is not None
            and issuer.rstrip("/") == oidc_issuer.rstrip("/")
        ):
            return AuthMode.OPENID_CONNECT
    if AuthMode.AWS_LAMBDA in modes:
        return AuthMode.AWS_LAMBDA
    if parts is None and modes & _JWT_MODES:
        raise UnauthorizedError(UNPARSEABLE_JWT)
    if parts is not None:
        raise UnauthorizedError(NOT_AUTHORIZED)
    raise UnauthorizedError(NO_VALID_HEADER)


def split_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """`(header, claims)` of a compact JWS, *unverified*; None if it is not one.

    For routing and key selection only: nothing read here is trusted before the signature
    is checked.
    """
    if len(token) > MAX_JWT_CHARS or token.count(".") != 2:
        return None
    header_b64, claims_b64, _ = token.split(".")
    header = _json_segment(header_b64)
    claims = _json_segment(claims_b64)
    if header is None or claims is None:
        return None
    return header, claims


def _json_segment(segment: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return value if isinstance(value, dict) else None
