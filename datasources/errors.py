"""The error tree of the data-source layer, translated from backend exceptions at one boundary.

    SourceError                      a source failed; carries `source`, `reason`, `retryable`
    ├── SourceUnavailableError       cannot reach it, or it answered with a server fault
    ├── SourceTimeoutError           it did not answer within its timeout
    ├── CircuitOpenError             not called: its breaker is open
    └── SourceRejectedError          it refused the request (validation, throttling, conflict)
        └── ConditionFailedError     a conditional write lost (optimistic concurrency)

`error_type` is AppSync's `errorType` (`<Source>:<Reason>`): the edge reads it, together with
`error_info`, without this layer knowing anything of GraphQL.
"""

from __future__ import annotations

from typing import Any


class SourceError(Exception):
    reason: str = "Error"
    retryable: bool = False

    def __init__(
        self,
        source: str,
        message: str,
        *,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.message = message
        if reason is not None:
            self.reason = reason
        # Seconds the source asked us to wait (HTTP Retry-After on a 429 or 503); the retry
        # loop waits at least this long before trying again.
        self.retry_after = retry_after

    @property
    def error_type(self) -> str:
        return f"{self.source}:{self.reason}"

    @property
    def error_info(self) -> dict[str, Any]:
        return {"source": self.source, "retryable": self.retryable}

    @property
    def data(self) -> None:
        return None


class SourceUnavailableError(SourceError):
    reason = "Unavailable"
    retryable = True


class SourceTimeoutError(SourceError):
    reason = "Timeout"
    retryable = True


class CircuitOpenError(SourceError):
    reason = "CircuitOpen"
    retryable = True


class SourceRejectedError(SourceError):
    reason = "Rejected"


class ConditionFailedError(SourceRejectedError):
    reason = "ConditionalCheckFailedException"
