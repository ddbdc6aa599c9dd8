"""AWS_LAMBDA: the §2.6 authorizer contract, run in process or as a real Lambda.

The authorizer is either a Lambda-style handler `handler(event, context)` named by an import
path (`module:function`, sync handlers run in a worker thread, async ones are awaited), or a
deployed function invoked through an aiobotocore `lambda` client (`RequestResponse`).

Per request:

1. `identityValidationExpression`, when set, must match the whole token (Java's
   `String.matches`, as AppSync's engine) or the request is a 401 without invoking anything;
2. the answer cached for this token (by its SHA-256) is used while fresh: AppSync caches per
   token, whatever the query. TTL: `ttlOverride` from the answer, else
   `authorizerResultTtlInSeconds` (0 = no caching). Denials are cached the same way;
3. otherwise the authorizer gets the event
   `{authorizationToken, requestContext{apiId, accountId, requestId, queryString,
   operationName, variables}, requestHeaders}` and must answer
   `{isAuthorized, resolverContext?, deniedFields?, ttlOverride?}`.

`isAuthorized: false` is a 401. An authorizer that fails, times out (`lambda_timeout_seconds`)
or answers something else is a 401 too (logged, not cached): the edge fails closed.
`deniedFields` entries (`Type.field` or AppSync field ARNs) become `Caller.denied_fields`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from appsync.auth.api_key import MISSING, TtlCache
from appsync.auth.identity import LambdaIdentity
from appsync.auth.modes import NOT_AUTHORIZED
from appsync.errors import UnauthorizedError
from datasources import frozen

__all__ = [
    "AuthorizerFunction",
    "LambdaAuthorizer",
    "LambdaInvokeClient",
    "LocalLambdaContext",
    "deployed_authorizer",
    "python_authorizer",
]

logger = logging.getLogger(__name__)

AuthorizerFunction = Callable[[dict[str, Any]], Awaitable[Any]]
MAX_TTL_SECONDS = 3600
_FIELD = re.compile(r"^\w+\.\w+$")
_FIELD_ARN = re.compile(r"^arn:aws[a-z-]*:appsync:[^:]*:\d*:apis/[^/]+/types/(\w+)/fields/(\w+)$")


class LambdaInvokeClient(Protocol):
    """The part of aiobotocore's `lambda` client used here."""

    async def invoke(self, **kwargs: Any) -> Mapping[str, Any]: ...


@frozen.record
class LocalLambdaContext:
    """What a Lambda handler reads from `context`, for handlers run in process."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def python_authorizer(
    import_path: str, *, account_id: str, region: str, timeout_seconds: float
) -> AuthorizerFunction:
    """A Lambda handler (`module:function`) called in this process."""
    module_name, _, attribute = import_path.partition(":")
    handler = getattr(importlib.import_module(module_name), attribute)
    if not callable(handler):
        raise TypeError(f"{import_path} is not callable")
    name = f"{module_name}.{attribute}"

    async def invoke(event: dict[str, Any]) -> Any:
        context = LocalLambdaContext(
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:{region}:{account_id}:function:{name}",
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + timeout_seconds,
        )
        if inspect.iscoroutinefunction(handler):
            return await handler(event, context)
        return await asyncio.to_thread(handler, event, context)  # keep the loop free

    return invoke


def deployed_authorizer(client: LambdaInvokeClient, function_arn: str) -> AuthorizerFunction:
    """A deployed Lambda function, invoked synchronously with an aiobotocore client."""

    async def invoke(event: dict[str, Any]) -> Any:
        response = await client.invoke(
            FunctionName=function_arn,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        payload = response.get("Payload")
        if payload is None:
            raise ValueError(f"authorizer {function_arn} answered no payload")
        raw = payload if isinstance(payload, bytes | bytearray) else await payload.read()
        if response.get("FunctionError"):
            raise RuntimeError(f"authorizer {function_arn} failed: {raw[:200]!r}")
        return json.loads(raw)

    return invoke


class LambdaAuthorizer:
    def __init__(
        self,
        function: AuthorizerFunction,
        *,
        api_id: str,
        account_id: str,
        ttl_seconds: int,
        identity_validation_expression: str | None,
        timeout_seconds: float,
        cache_size: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._function = function
        self._api_id = api_id
        self._account_id = account_id
        self._ttl = ttl_seconds
        self._validation = (
            re.compile(identity_validation_expression) if identity_validation_expression else None
        )
        self._timeout = timeout_seconds
        self._cache: TtlCache[str, LambdaIdentity | None] = TtlCache(
            max_entries=cache_size, clock=clock
        )
        self.invocations = 0

    async def authorize(
        self, token: str, *, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> LambdaIdentity:
        if self._validation is not None and not self._validation.fullmatch(token):
            raise UnauthorizedError(NOT_AUTHORIZED)
        digest = hashlib.sha256(token.encode()).hexdigest()
        decision = self._cache.get(digest)
        if decision is MISSING:
            decision, ttl = await self._decide(token, digest, headers, body, request_id)
            self._cache.put(digest, decision, ttl)
        if decision is None:
            raise UnauthorizedError(NOT_AUTHORIZED)
        return decision

    async def _decide(
        self,
        token: str,
        digest: str,
        headers: Mapping[str, str],
        body: bytes,
        request_id: str,
    ) -> tuple[LambdaIdentity | None, int]:
        event = {
            "authorizationToken": token,
            "requestContext": {
                "apiId": self._api_id,
                "accountId": self._account_id,
                "requestId": request_id,
                **_operation(body),
            },
            "requestHeaders": dict(headers),
        }
        self.invocations += 1
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._function(event)
            return _read_answer(answer, digest, self._ttl)
        except Exception:
            # Never cached: the next request asks again.
            logger.warning("Lambda authorizer failed; refusing the request", exc_info=True)
            raise UnauthorizedError(NOT_AUTHORIZED) from None


def _operation(body: bytes) -> dict[str, Any]:
    """`queryString`, `operationName`, `variables` from the GraphQL body (lenient)."""
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    query, name, variables = (
        payload.get("query"),
        payload.get("operationName"),
        payload.get("variables"),
    )
    return {
        "queryString": query if isinstance(query, str) else "",
        "operationName": name if isinstance(name, str) else None,
        "variables": variables if isinstance(variables, dict) else {},
    }


def _read_answer(answer: Any, digest: str, default_ttl: int) -> tuple[LambdaIdentity | None, int]:
    if not isinstance(answer, Mapping) or not isinstance(answer.get("isAuthorized"), bool):
        raise ValueError("the authorizer's answer has no boolean isAuthorized")
    ttl_override = answer.get("ttlOverride")
    if ttl_override is None:
        ttl = default_ttl
    elif isinstance(ttl_override, int) and not isinstance(ttl_override, bool):
        ttl = min(max(ttl_override, 0), MAX_TTL_SECONDS)
    else:
        raise ValueError("ttlOverride must be an integer number of seconds")
    if not answer["isAuthorized"]:
        return None, ttl
    context = answer.get("resolverContext") or {}
    denied = answer.get("deniedFields") or []
    if not isinstance(context, Mapping):
        raise ValueError("resolverContext must be a JSON object")
    if not isinstance(denied, list) or not all(isinstance(d, str) for d in denied):
        raise ValueError("deniedFields must be a list of strings")
    identity = LambdaIdentity(
        resolver_context=dict(context),
        denied_fields=frozenset(_field_name(entry) for entry in denied),
        ttl_seconds=ttl,
        token_digest=digest,
    )
    return identity, ttl


def _field_name(entry: str) -> str:
    """`Type.field` from `Type.field` or an AppSync field ARN."""
    if _FIELD.match(entry):
        return entry
    match = _FIELD_ARN.match(entry)
    if match is None:
        raise ValueError(f"deniedFields entry {entry!r} is neither Type.field nor a field ARN")
    return f"{match.group(1)}.{match.group(2)}"
