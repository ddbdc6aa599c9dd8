"""The edge's error tree and AppSync's error-entry formatter.

What the edge raises and how each error reaches the client::

    Exception
     ├── AppSyncError                field error, `util.error(message, errorType, data, errorInfo)`
     └── RequestError                whole request refused: HTTP status + {"errors": [...]}
          ├── MalformedRequestError       400  MalformedHttpRequestException
          ├── UnauthorizedError           401  UnauthorizedException
          ├── MethodNotAllowedError       405  MethodNotAllowedException
          ├── PayloadTooLargeError        413  PayloadTooLargeException
          ├── UnsupportedMediaTypeError   415  UnsupportedMediaTypeException
          └── InternalFailureError        500  InternalFailureException

Typed field errors without importing `appsync` (layers below it must not): any exception
that has an `error_type` attribute is treated like an `AppSyncError`. Its text (`str(exc)`)
is the message; `error_type` (str or None) becomes `errorType`; the optional attributes
`data` (any JSON value) and `error_info` (a mapping) become `data` and `errorInfo`. A
`GraphQLError` whose `extensions` carry `errorType` / `errorInfo` / `data` (e.g. a Strawberry
permission's error) is hoisted the same way: AppSync never sends `extensions`.

Any other exception raised inside a resolver is a bug or an untyped failure: its text may
hold internals, so the client gets errorType `InternalFailure` (AWS's name for an unknown
server-side failure) and a generic message, and the traceback is logged here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from graphql import GraphQLError

__all__ = [
    "INTERNAL_FAILURE",
    "INTERNAL_FAILURE_MESSAGE",
    "AppSyncError",
    "InternalFailureError",
    "MalformedRequestError",
    "MethodNotAllowedError",
    "PayloadTooLargeError",
    "RequestError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "format_error",
    "request_error_body",
]

logger = logging.getLogger(__name__)

INTERNAL_FAILURE = "InternalFailure"
INTERNAL_FAILURE_MESSAGE = (
    "The request processing has failed because of an unknown error, exception or failure."
)
_NON_NULL_PREFIX = "Cannot return null for non-nullable "


class AppSyncError(Exception):
    """A field error with AppSync's custom fields: the `util.error` equivalent.

    Raised in a resolver, the field becomes null and one error entry carries `message`,
    `errorType`, `data` and `errorInfo` at its root.
    """

    def __init__(
        self,
        message: str,
        error_type: str | None,
        data: Any = None,
        error_info: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.data = data
        self.error_info = error_info


class RequestError(Exception):
    """A request refused before GraphQL runs; rendered by `request_error_body`."""

    status_code: ClassVar[int] = 400
    error_type: ClassVar[str] = "BadRequestException"
    default_message: ClassVar[str] = "The request is invalid."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class MalformedRequestError(RequestError):
    status_code = 400
    error_type = "MalformedHttpRequestException"
    default_message = "The request body is not a valid GraphQL request."


class UnauthorizedError(RequestError):
    status_code = 401
    error_type = "UnauthorizedException"
    default_message = "You are not authorized to make this call."


class MethodNotAllowedError(RequestError):
    status_code = 405
    error_type = "MethodNotAllowedException"
    default_message = "Send GraphQL requests as POST with a JSON body."


class PayloadTooLargeError(RequestError):
    status_code = 413
    error_type = "PayloadTooLargeException"
    default_message = "The request body is too large."


class UnsupportedMediaTypeError(RequestError):
    status_code = 415
    error_type = "UnsupportedMediaTypeException"
    default_message = "Send the request body as application/json."


class InternalFailureError(RequestError):
    status_code = 500
    error_type = "InternalFailureException"
    default_message = "An internal failure occurred. Try your request again."


def request_error_body(error: RequestError) -> dict[str, Any]:
    """AppSync's body for a refused request: `{"errors": [{"errorType", "message"}]}`."""
    return {"errors": [{"errorType": error.error_type, "message": error.message}]}


def format_error(error: GraphQLError) -> dict[str, Any]:
    """One AppSync error entry, keys in AppSync's order; never an `extensions` key.

    - request errors (parse, validation, variables: no response path):
      `{path: null, locations, message}`
    - null in a non-null position: `{path, locations: null, message}` (as AppSync sends it)
    - field errors: `{path, data, errorType, errorInfo, locations, message}`
    """
    typed = _typed_fields(error)
    message = error.message
    if typed is None and _is_unexpected(error):
        _log_unexpected(error)
        typed = (INTERNAL_FAILURE, None, None)
        message = INTERNAL_FAILURE_MESSAGE
    path = list(error.path) if error.path is not None else None
    if typed is None:
        if path is None:
            return {"path": None, "locations": _locations(error), "message": message}
        if message.startswith(_NON_NULL_PREFIX):
            return {"path": path, "locations": None, "message": message}
        typed = (None, None, None)
    error_type, data, error_info = typed
    return {
        "path": path,
        "data": data,
        "errorType": error_type,
        "errorInfo": error_info,
        "locations": _locations(error),
        "message": message,
    }


def _typed_fields(error: GraphQLError) -> tuple[str | None, Any, Any] | None:
    """`(errorType, data, errorInfo)` when the error carries them, else None."""
    original = error.original_error
    if original is not None and hasattr(original, "error_type"):
        error_type = getattr(original, "error_type", None)
        error_info = getattr(original, "error_info", None)
        return (
            None if error_type is None else str(error_type),
            getattr(original, "data", None),
            dict(error_info) if isinstance(error_info, Mapping) else error_info,
        )
    extensions = error.extensions or {}
    if "errorType" in extensions:
        error_type = extensions.get("errorType")
        return (
            None if error_type is None else str(error_type),
            extensions.get("data"),
            extensions.get("errorInfo"),
        )
    return None


def _is_unexpected(error: GraphQLError) -> bool:
    """True for an exception that is neither a GraphQL error nor typed by our contract."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    # graphql-core reports a null in a non-null position as a TypeError of its own.
    return not (isinstance(original, TypeError) and error.message.startswith(_NON_NULL_PREFIX))


def _log_unexpected(error: GraphQLError) -> None:
    original = error.original_error
    assert original is not None
    where = "/".join(str(key) for key in error.path) if error.path else "(request)"
    logger.error(
        "Unhandled %s at %s; the client sees %s",
        type(original).__name__,
        where,
        INTERNAL_FAILURE,
        exc_info=(type(original), original, original.__traceback__),
    )


def _locations(error: GraphQLError) -> list[dict[str, Any]] | None:
    if not error.locations:
        return None
    return [
        {"line": location.line, "column": location.column, "sourceName": None}
        for location in error.locations
    ]
