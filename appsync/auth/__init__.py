"""AppSync's auth modes at the edge: who is calling, decided before GraphQL runs.

::

    settings.py        AuthSettings (CG_AUTH_*)
    modes.py           AuthMode, §2.3 mode selection, AppSync's refusal messages
    identity.py        per-mode identities (AppSync's `identity`) and the `Caller`
    api_key.py         API_KEY against hashed keys (datasources/dynamodb/apikeys.py)
    jwt.py             AMAZON_COGNITO_USER_POOLS and OPENID_CONNECT (JWKS, discovery)
    iam.py             AWS_IAM (SigV4 recomputed with botocore)
    lambda_authorizer.py  AWS_LAMBDA (§2.6 contract, TTL cache)
    authenticator.py   Authenticator: request in, Caller out; open_authenticator()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from appsync.auth.identity import Caller
from appsync.auth.modes import AuthMode

if TYPE_CHECKING:
    from appsync.auth.authenticator import Authenticator, open_authenticator
    from appsync.auth.settings import AuthSettings

__all__ = ["AuthMode", "AuthSettings", "Authenticator", "Caller", "open_authenticator"]

# Imported on first use: the authenticator brings aiohttp, aiobotocore, joserfc and starlette,
# and the Lambda handler (whose caller AppSync has already authenticated) needs none of them
# for `Caller` and `AuthMode` (cold start, docs/performance.md).
_LAZY = {
    "Authenticator": "appsync.auth.authenticator",
    "open_authenticator": "appsync.auth.authenticator",
    "AuthSettings": "appsync.auth.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
