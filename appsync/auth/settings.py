"""Auth settings from the environment (`CG_AUTH_` prefix): AppSync's auth configuration.

One field per AppSync setting, named after it (APPSYNC.md §2.3, §2.6, §6.2):

- `default_mode` / `additional_modes`: `authenticationType` and
  `additionalAuthenticationProviders` (env: JSON list or comma-separated).
- Cognito (`userPoolConfig`): `user_pool_id`, `region`, `app_id_client_regex`,
  `default_action`; `cognito_endpoint` points JWKS fetches at moto's server.
- OIDC (`openIDConnectConfig`): `oidc_issuer`, `oidc_client_id` (a regex, as on AppSync),
  `oidc_iat_ttl_ms`, `oidc_auth_ttl_ms` (0 = not checked).
- IAM: `iam_credentials` maps an access key id to its secret and principal (env: JSON),
  `iam_region`, `iam_clock_skew_seconds` (AWS: 5 minutes).
- Lambda (`lambdaAuthorizerConfig`): `lambda_authorizer` (`module:function`, a Lambda
  handler run in process) or `lambda_function_arn` (+ `lambda_endpoint`),
  `authorizer_result_ttl_seconds`, `identity_validation_expression`.

One provider per mode: AppSync allows several Cognito pools or OIDC issuers as additional
providers; this mirror takes one of each.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from appsync.auth.modes import AuthMode
from datasources.envsettings import EnvSettings, Model, SecretStr, setting

__all__ = ["AuthSettings", "IamCredential"]

_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):(.+)$")
_LAMBDA_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:lambda:([a-z0-9-]+):\d{12}:function:.+$")
_ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)


class IamCredential(Model):
    """A credential the server trusts for AWS_IAM, and the principal it stands for."""

    secret_access_key: SecretStr
    user_arn: str
    # AppSync reports the caller's IAM unique id here (`AIDA…`, `AROA…:session`); we cannot
    # look it up offline, so the default is the last segment of the ARN.
    username: str | None = None
    # Set for temporary credentials: the request must carry this x-amz-security-token.
    session_token: SecretStr | None = None

    def validate(self) -> None:
        if not _ARN_ACCOUNT.match(self.user_arn):
            raise ValueError("user_arn must be an IAM or STS ARN with a 12-digit account id")

    @property
    def account_id(self) -> str:
        match = _ARN_ACCOUNT.match(self.user_arn)
        assert match is not None  # checked by the validator
        return match.group(1)

    @property
    def principal_name(self) -> str:
        return self.username or self.user_arn.rsplit("/", 1)[-1]


class AuthSettings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_AUTH_"

    default_mode: AuthMode = AuthMode.API_KEY
    additional_modes: list[AuthMode] = setting(factory=list)
    # Reported to Lambda authorizers (`requestContext.apiId/accountId`), as AppSync does.
    api_id: str = setting(default="commercegraphlocal00000000", pattern=r"^\w{26}$")
    account_id: str = setting(default="000000000000", pattern=r"^\d{12}$")
    http_timeout_seconds: float = setting(default=5.0, gt=0, le=60)

    # --- API_KEY ---
    # Key lookups are cached this long: a revocation made by another process takes effect
    # within this window (the revoking process forgets the key at once).
    api_key_cache_seconds: float = setting(default=5.0, ge=0, le=300)
    api_key_cache_size: int = setting(default=4096, ge=1)

    # --- AMAZON_COGNITO_USER_POOLS ---
    user_pool_id: str | None = setting(default=None, pattern=r"^[a-z]{2}(?:-[a-z]+)+-\d_\w+$")
    region: str | None = None  # default: the region prefix of the pool id
    app_id_client_regex: str | None = None  # None: any client of the pool
    cognito_endpoint: str | None = None  # e.g. moto: http://127.0.0.1:5000 (JWKS only)
    default_action: Literal["ALLOW", "DENY"] = "ALLOW"

    # --- OPENID_CONNECT ---
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None  # a regex against `aud`; None: any audience
    oidc_iat_ttl_ms: int = setting(default=0, ge=0)
    oidc_auth_ttl_ms: int = setting(default=0, ge=0)
    oidc_algorithms: list[str] = setting(factory=lambda: ["RS256"])

    # --- JWKS (Cognito and OIDC) ---
    # Keys are re-fetched after this age, and at most this often when a token names an
    # unknown `kid` (rotation), so random kids cannot make us hammer the issuer.
    jwks_max_age_seconds: float = setting(default=3600.0, gt=0)
    jwks_min_refresh_seconds: float = setting(default=60.0, ge=0)

    # --- AWS_IAM ---
    iam_credentials: dict[str, IamCredential] = setting(factory=dict)
    iam_region: str = "us-east-1"
    iam_clock_skew_seconds: int = setting(default=300, ge=0, le=900)

    # --- AWS_LAMBDA ---
    lambda_authorizer: str | None = setting(default=None, pattern=r"^[\w.]+:\w+$")
    lambda_function_arn: str | None = None
    lambda_endpoint: str | None = None
    lambda_timeout_seconds: float = setting(default=10.0, gt=0, le=60)
    authorizer_result_ttl_seconds: int = setting(default=0, ge=0, le=3600)
    identity_validation_expression: str | None = None
    lambda_cache_size: int = setting(default=10_000, ge=1)

    def validate(self) -> None:
        for name in ("app_id_client_regex", "oidc_client_id", "identity_validation_expression"):
            if (pattern := getattr(self, name)) is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{name} is not a regular expression: {exc}") from None
        # A symmetric algorithm would let anyone holding the public JWKS mint tokens.
        unsupported = sorted(set(self.oidc_algorithms) - _ASYMMETRIC_ALGORITHMS)
        if unsupported or not self.oidc_algorithms:
            raise ValueError(f"oidc_algorithms must be asymmetric JWS algorithms: {unsupported}")
        if self.lambda_function_arn is not None and not _LAMBDA_ARN_REGION.match(
            self.lambda_function_arn
        ):
            raise ValueError("lambda_function_arn must be a Lambda function ARN")
        if self.default_mode in self.additional_modes:
            raise ValueError("additional_modes must not repeat default_mode")
        if len(set(self.additional_modes)) != len(self.additional_modes):
            raise ValueError("additional_modes has duplicates")
        modes = self.modes
        if AuthMode.AMAZON_COGNITO_USER_POOLS in modes and not self.user_pool_id:
            raise ValueError("AMAZON_COGNITO_USER_POOLS needs user_pool_id")
        if AuthMode.OPENID_CONNECT in modes and not self.oidc_issuer:
            raise ValueError("OPENID_CONNECT needs oidc_issuer")
        # AWS_IAM without iam_credentials is valid here: a deployed API verifies SigV4 in
        # AWS; only the local server, which verifies it itself, needs them (authenticator.py).
        if AuthMode.AWS_LAMBDA in modes and (
            (self.lambda_authorizer is None) == (self.lambda_function_arn is None)
        ):
            raise ValueError(
                "AWS_LAMBDA needs exactly one of lambda_authorizer, lambda_function_arn"
            )

    @property
    def modes(self) -> frozenset[AuthMode]:
        return frozenset((self.default_mode, *self.additional_modes))

    @property
    def cognito_region(self) -> str:
        assert self.user_pool_id is not None
        return self.region or self.user_pool_id.split("_", 1)[0]

    @property
    def cognito_issuer(self) -> str:
        """The `iss` of the pool's tokens: always AWS's URL, moto included."""
        assert self.user_pool_id is not None
        return f"https://cognito-idp.{self.cognito_region}.amazonaws.com/{self.user_pool_id}"

    @property
    def cognito_jwks_url(self) -> str:
        assert self.user_pool_id is not None
        if self.cognito_endpoint:
            return f"{self.cognito_endpoint.rstrip('/')}/{self.user_pool_id}/.well-known/jwks.json"
        return f"{self.cognito_issuer}/.well-known/jwks.json"

    @property
    def lambda_region(self) -> str:
        assert self.lambda_function_arn is not None
        match = _LAMBDA_ARN_REGION.match(self.lambda_function_arn)
        assert match is not None
        return match.group(1)
