"""The two AWS clients events use, typed by what we call, and their error translation.

aiobotocore ships no types for EventBridge and SQS here (only DynamoDB's stubs are
installed), so each client is seen through a Protocol of the calls this package makes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from datasources.errors import (
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)

EVENTBRIDGE = "EventBridge"
SQS = "SQS"

_THROTTLING = {"ThrottlingException", "Throttling", "RequestThrottled", "LimitExceededException"}


class EventsClient(Protocol):
    # botocore's parameter names are CamelCase; the Protocol takes them as keywords.
    async def put_events(self, **kwargs: Any) -> dict[str, Any]: ...

    async def create_event_bus(self, **kwargs: Any) -> dict[str, Any]: ...

    async def put_rule(self, **kwargs: Any) -> dict[str, Any]: ...

    async def put_targets(self, **kwargs: Any) -> dict[str, Any]: ...


class SqsClient(Protocol):
    async def receive_message(self, **kwargs: Any) -> dict[str, Any]: ...

    async def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]: ...

    async def change_message_visibility(self, **kwargs: Any) -> dict[str, Any]: ...

    async def create_queue(self, **kwargs: Any) -> dict[str, Any]: ...

    async def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]: ...

    async def set_queue_attributes(self, **kwargs: Any) -> dict[str, Any]: ...


def translate(source: str, exc: Exception) -> SourceError:
    """Map a botocore/aiohttp failure to the most specific error of our tree."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _THROTTLING or status >= 500:
            return SourceUnavailableError(source, message, reason=code)
        return SourceRejectedError(source, message, reason=code)
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | asyncio.TimeoutError):
        return SourceTimeoutError(source, f"{source} did not answer in time.")
    if isinstance(exc, EndpointConnectionError | BotoCoreError | OSError):
        return SourceUnavailableError(source, f"{source} cannot be reached.")
    return SourceUnavailableError(source, f"{source} call failed: {type(exc).__name__}")
