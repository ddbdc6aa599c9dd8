"""Who is calling: one record per auth mode, and the `Caller` the rest of the edge reads.

`to_appsync()` gives exactly the `identity` AppSync hands resolvers (APPSYNC.md §4.2); the
`Caller` carries it together with what enforcement needs (groups for `cognito_groups`,
Lambda `deniedFields`) and an opaque `principal` for per-identity limits and cache keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import field
from typing import Any, Literal

from appsync.auth.modes import AuthMode
from datasources import frozen

__all__ = [
    "ApiKeyIdentity",
    "Caller",
    "CognitoIdentity",
    "IamIdentity",
    "Identity",
    "LambdaIdentity",
    "OidcIdentity",
]


def _source_ips(source_ip: str | None) -> list[str]:
    return [source_ip] if source_ip else []


def opaque_principal(*parts: str) -> str:
    # Limits and caches key on this: stable per principal, and no PII (emails, ARNs) in keys.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@frozen.record
class ApiKeyIdentity:
    """API_KEY: AppSync's identity is null; the key id is kept for limits only."""

    key_id: str
    mode: Literal[AuthMode.API_KEY] = AuthMode.API_KEY

    def to_appsync(self, source_ip: str | None = None) -> None:
        return None

    @property
    def principal(self) -> str:
        return opaque_principal(self.mode, self.key_id)


@frozen.record
class IamIdentity:
    account_id: str
    user_arn: str
    username: str
    cognito_identity_pool_id: str | None = None
    cognito_identity_id: str | None = None
    cognito_identity_auth_type: str | None = None
    cognito_identity_auth_provider: str | None = None
    mode: Literal[AuthMode.AWS_IAM] = AuthMode.AWS_IAM

    def to_appsync(self, source_ip: str | None = None) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "cognitoIdentityPoolId": self.cognito_identity_pool_id,
            "cognitoIdentityId": self.cognito_identity_id,
            "sourceIp": _source_ips(source_ip),
            "username": self.username,
            "userArn": self.user_arn,
            "cognitoIdentityAuthType": self.cognito_identity_auth_type,
            "cognitoIdentityAuthProvider": self.cognito_identity_auth_provider,
        }

    @property
    def principal(self) -> str:
        return opaque_principal(self.mode, self.user_arn)


@frozen.record
class CognitoIdentity:
    sub: str
    issuer: str
    username: str
    claims: Mapping[str, Any]
    default_auth_strategy: Literal["ALLOW", "DENY"]
    groups: tuple[str, ...] | None  # None when the token has no `cognito:groups`
    mode: Literal[AuthMode.AMAZON_COGNITO_USER_POOLS] = AuthMode.AMAZON_COGNITO_USER_POOLS

    def to_appsync(self, source_ip: str | None = None) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "issuer": self.issuer,
            "username": self.username,
            "claims": dict(self.claims),
            "sourceIp": _source_ips(source_ip),
            "defaultAuthStrategy": self.default_auth_strategy,
            "groups": None if self.groups is None else list(self.groups),
        }

    @property
    def principal(self) -> str:
        return opaque_principal(self.mode, self.issuer, self.sub)


@frozen.record
class OidcIdentity:
    sub: str
    issuer: str
    claims: Mapping[str, Any]
    mode: Literal[AuthMode.OPENID_CONNECT] = AuthMode.OPENID_CONNECT

    def to_appsync(self, source_ip: str | None = None) -> dict[str, Any]:
        return {"sub": self.sub, "issuer": self.issuer, "claims": dict(self.claims)}

    @property
    def principal(self) -> str:
        return opaque_principal(self.mode, self.issuer, self.sub)


@frozen.record
class LambdaIdentity:
    """AWS_LAMBDA: what the authorizer answered (§2.6)."""

    resolver_context: Mapping[str, Any]
    denied_fields: frozenset[str]  # `Type.field`
    ttl_seconds: int  # how long this answer is cached (0: not cached)
    token_digest: str  # sha256 of the token, never the token itself
    mode: Literal[AuthMode.AWS_LAMBDA] = AuthMode.AWS_LAMBDA

    def to_appsync(self, source_ip: str | None = None) -> dict[str, Any]:
        return {"resolverContext": dict(self.resolver_context)}

    @property
    def principal(self) -> str:
        return opaque_principal(self.mode, self.token_digest)


Identity = ApiKeyIdentity | IamIdentity | CognitoIdentity | OidcIdentity | LambdaIdentity


@frozen.record
class Caller:
    """The authenticated caller of one request; built only by `Authenticator`.

    Stable contract for enforcement (appsync/authz.py), limits and caching:

    - `mode`: the auth mode that admitted the request;
    - `identity`: AppSync's `identity` for resolvers (None for API_KEY);
    - `groups`: the Cognito groups (`cognito:groups`); empty for every other mode;
    - `denied_fields`: `Type.field` names a Lambda authorizer denied; they resolve to null;
    - `source_ip`: the client address as the server saw it;
    - `principal`: an opaque id, stable per principal (key, user, ARN, token), no PII;
    - `headers`: the request headers, lower-case names (AppSync's `request.headers`).
    """

    mode: AuthMode
    identity: dict[str, Any] | None
    groups: frozenset[str] = frozenset()
    denied_fields: frozenset[str] = frozenset()
    source_ip: str | None = None
    principal: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, identity: Identity, *, source_ip: str | None, headers: Mapping[str, str]) -> Caller:
        groups = identity.groups if isinstance(identity, CognitoIdentity) else None
        denied = identity.denied_fields if isinstance(identity, LambdaIdentity) else frozenset()
        return cls(
            mode=identity.mode,
            identity=identity.to_appsync(source_ip),
            groups=frozenset(groups or ()),
            denied_fields=denied,
            source_ip=source_ip,
            principal=identity.principal,
            headers=dict(headers),
        )
