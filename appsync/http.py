"""AppSync's HTTP edge: one ASGI endpoint answering `POST /graphql` as AppSync does.

Mount it with Starlette: `Route("/graphql", GraphQLEndpoint(schema, ...))` (an instance, not a
function, so Starlette hands it the raw ASGI call and every method; the endpoint answers
405 itself).

Statuses. GraphQL-level problems (syntax, validation, variables, unknown operation, field
errors) are 200 with `data: null` or partial data, as on AppSync (APPSYNC.md §3.1). A refused
request gets AppSync's `{"errors": [{"errorType", "message"}]}` body and an
`x-amzn-ErrorType` header. AppSync's own statuses for the cases below are not documented
(§3.1 marks them unverified), so each is the HTTP status that names the fault:

- 400 `MalformedHttpRequestException`: body not JSON, not one JSON object (batched arrays
  are refused: AppSync does not batch), `query` missing, blank or not a string, `variables`
  not an object, `operationName` not a string.
- 401 and any other `RequestError` raised by `context_getter` (auth lives there).
- 405 `MethodNotAllowedException` with `Allow`: any method but POST; a GET that accepts
  `text/html` gets GraphiQL instead when it is enabled.
- 413 `PayloadTooLargeException`: more than `max_body_bytes`, declared or streamed.
- 415 `UnsupportedMediaTypeException`: anything but `application/json` in UTF-8; AppSync
  takes no `application/graphql`.
- 500 `InternalFailureException`: a failure of the edge itself, logged; never a traceback.

Subscriptions over HTTP are a 200 GraphQL error with errorType `UnsupportedOperation`, and a
document of several operations without `operationName` is refused as graphql-java does
(Strawberry would run the first one).

Parsing and validation must be cached on the schema, which the endpoint runs through
`schema.execute`: build it with
`extensions=[lambda: ParserCache(maxsize=N), lambda: ValidationCache(maxsize=N)]`
(strawberry.extensions). The endpoint logs a warning when either is missing.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
import strawberry
from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, parse
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from appsync.errors import (
    AppSyncError,
    InternalFailureError,
    MalformedRequestError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    RequestError,
    UnsupportedMediaTypeError,
    format_error,
    request_error_body,
)
from appsync.graphiql import graphiql_html
from appsync.messages import translate_error

__all__ = ["ContextGetter", "GraphQLEndpoint"]

logger = logging.getLogger(__name__)

ContextGetter = Callable[[Request], Awaitable[Any]]

JSON_MEDIA_TYPE = "application/json; charset=UTF-8"
# Subscriptions go over the realtime WebSocket, never over HTTP.
HTTP_OPERATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})
MULTIPLE_OPERATIONS = "Must provide operation name if query contains multiple operations."
SUBSCRIPTION_OVER_HTTP = (
    "Subscriptions are not supported over HTTP; use the real-time WebSocket endpoint."
)


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any]
    operation_name: str | None


class GraphQLEndpoint:
    """POST /graphql in AppSync's shapes; see the module docstring for statuses."""

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        context_getter: ContextGetter,
        max_body_bytes: int,
        graphiql: bool,
        graphiql_headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        self._schema = schema
        self._context_getter = context_getter
        self._max_body_bytes = max_body_bytes
        self._graphiql_page = graphiql_html(graphiql_headers) if graphiql else None
        self._allow = "GET, POST" if graphiql else "POST"
        # The parsed text, for what Strawberry keeps to itself: the operation count and the
        # nodes errors point at. Strawberry's ParserCache is not reachable from here.
        self._documents = lru_cache(maxsize=256)(_parse_or_none)
        _warn_without_caches(schema)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the realtime protocol has its own endpoint
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, receive)
        try:
            response = await self._respond(request)
        except ClientDisconnect:  # nobody left to answer
            return
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            response = await self._dispatch(request)
        except RequestError as error:
            response = self._refusal(error)
        except ClientDisconnect:
            raise
        except Exception:
            logger.exception("request %s failed inside the edge", request_id)
            response = self._refusal(InternalFailureError())
        response.headers["x-amzn-RequestId"] = request_id
        return response

    async def _dispatch(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._execute(request, await self._read(request))
        accepts_html = "text/html" in request.headers.get("accept", "").lower()
        if request.method == "GET" and accepts_html and self._graphiql_page is not None:
            return HTMLResponse(self._graphiql_page)
        raise MethodNotAllowedError(
            f"Method {request.method} is not allowed. Send GraphQL requests as POST with a"
            " JSON body."
        )

    async def _read(self, request: Request) -> GraphQLRequest:
        _check_media_type(request.headers.get("content-type"))
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():  # stop at the limit, whatever was declared
            size += len(chunk)
            if size > self._max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
        body = b"".join(chunks)
        request.state.body = body  # raw bytes: AWS_IAM requests sign them
        return _graphql_request(body)

    async def _execute(self, request: Request, graphql_request: GraphQLRequest) -> Response:
        context = await self._context_getter(request)  # auth refuses before GraphQL runs
        data, errors = await self._run(graphql_request, context)
        body: dict[str, Any] = {"data": data}
        if errors:
            body["errors"] = self._format(errors, graphql_request.query)
        return _json_response(body, 200)

    async def _run(
        self, graphql_request: GraphQLRequest, context: Any
    ) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
        query, operation_name = graphql_request.query, graphql_request.operation_name
        # Strawberry would run the first operation; AppSync (graphql-java) refuses to guess.
        if operation_name is None and _operation_count(self._documents(query)) > 1:
            return None, [GraphQLError(MULTIPLE_OPERATIONS)]
        try:
            result = await self._schema.execute(
                query,
                variable_values=graphql_request.variables,
                operation_name=operation_name,
                context_value=context,
                allowed_operation_types=HTTP_OPERATIONS,
            )
        except CannotGetOperationTypeError as error:
            return None, [GraphQLError(error.as_http_error_reason())]
        except InvalidOperationTypeError:
            reason = AppSyncError(SUBSCRIPTION_OVER_HTTP, "UnsupportedOperation")
            return None, [GraphQLError(SUBSCRIPTION_OVER_HTTP, original_error=reason)]
        return result.data, list(result.errors or ())

    def _format(self, errors: list[GraphQLError], query: str) -> list[dict[str, Any]]:
        document = self._documents(query)
        entries: list[dict[str, Any]] = []
        seen: set[tuple[str, str, str]] = set()
        for error in errors:
            entry = format_error(translate_error(error, document, self._schema._schema))
            # graphql-java reports one error per argument where graphql-core may report several.
            key = (entry["message"], repr(entry["path"]), repr(entry["locations"]))
            if key not in seen:
                seen.add(key)
                entries.append(entry)
        return entries

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The request body exceeds the limit of {self._max_body_bytes} bytes."
        )

    def _refusal(self, error: RequestError) -> Response:
        response = _json_response(request_error_body(error), error.status_code)
        response.headers["x-amzn-ErrorType"] = error.error_type
        if isinstance(error, MethodNotAllowedError):
            response.headers["Allow"] = self._allow
        if (retry := getattr(error, "retry_after", None)) is not None:
            response.headers["Retry-After"] = str(max(1, math.ceil(retry)))
        return response


def _check_media_type(content_type: str | None) -> None:
    media_type, *parameters = (content_type or "").split(";")
    if media_type.strip().lower() != "application/json":
        raise UnsupportedMediaTypeError(
            f"Unsupported content type {media_type.strip() or '(none)'!r}; send application/json."
        )
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaTypeError(
                f"Unsupported charset {charset!r}; send the JSON body as UTF-8."
            )


def _graphql_request(body: bytes) -> GraphQLRequest:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedRequestError("The request body is not valid JSON.") from error
    if isinstance(payload, list):
        raise MalformedRequestError(
            "Batched requests are not supported; send one JSON object per request."
        )
    if not isinstance(payload, dict):
        raise MalformedRequestError("The request body must be a JSON object.")
    query = payload.get("query")
    if query is None:
        raise MalformedRequestError("The request body has no 'query'.")
    if not isinstance(query, str):
        raise MalformedRequestError("'query' must be a string.")
    if not query.strip():
        raise MalformedRequestError("'query' must not be empty.")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise MalformedRequestError("'variables' must be a JSON object.")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise MalformedRequestError("'operationName' must be a string.")
    # Some clients send "" for "no operation name".
    return GraphQLRequest(query, variables or {}, operation_name or None)


def _json_response(body: dict[str, Any], status_code: int) -> Response:
    return Response(
        orjson.dumps(body, default=_json_default),
        status_code=status_code,
        media_type=JSON_MEDIA_TYPE,
    )


def _json_default(value: object) -> Any:
    # Error `data`/`errorInfo` come from lower layers as they are; results are already JSON.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _operation_count(document: DocumentNode | None) -> int:
    if document is None:
        return 0
    return sum(isinstance(node, OperationDefinitionNode) for node in document.definitions)


def _parse_or_none(query: str) -> DocumentNode | None:
    try:
        return parse(query)
    except GraphQLError:
        return None


def _warn_without_caches(schema: strawberry.Schema) -> None:
    extensions = schema.get_extensions()
    missing = [
        cache.__name__
        for cache in (ParserCache, ValidationCache)
        if not any(isinstance(extension, cache) for extension in extensions)
    ]
    if missing:
        logger.warning(
            "schema has no %s: every request re-parses/re-validates its query",
            " or ".join(missing),
        )
