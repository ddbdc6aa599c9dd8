"""Domain errors: business failures become `userErrors` with a code; bad arguments to queries
become GraphQL errors with an AppSync `errorType`.

Error codes follow Saleor's `<Domain>ErrorCode` enums; the schema exposes these enums as is.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from datasources import frozen


class CartErrorCode(enum.StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    VARIANT_NOT_FOUND = "VARIANT_NOT_FOUND"
    LINE_NOT_FOUND = "LINE_NOT_FOUND"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    NOT_PRICED = "NOT_PRICED"
    CART_CHECKED_OUT = "CART_CHECKED_OUT"
    CONCURRENT_MODIFICATION = "CONCURRENT_MODIFICATION"
    LOCATION_NOT_FOUND = "LOCATION_NOT_FOUND"
    CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"


class OrderErrorCode(enum.StrEnum):
    CART_NOT_FOUND = "CART_NOT_FOUND"
    CART_EMPTY = "CART_EMPTY"
    CART_CHECKED_OUT = "CART_CHECKED_OUT"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    NOT_PRICED = "NOT_PRICED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INVALID = "INVALID"
    CONCURRENT_MODIFICATION = "CONCURRENT_MODIFICATION"
    PRICING_UNAVAILABLE = "PRICING_UNAVAILABLE"
    TAX_UNAVAILABLE = "TAX_UNAVAILABLE"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    LOYALTY_UNAVAILABLE = "LOYALTY_UNAVAILABLE"
    PAYMENT_REQUIRED = "PAYMENT_REQUIRED"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_REQUIRES_ACTION = "PAYMENT_REQUIRES_ACTION"
    PAYMENT_UNAVAILABLE = "PAYMENT_UNAVAILABLE"


@frozen.record
class UserErrorRecord:
    message: str
    code: str
    field: Sequence[str] | None = None


class DomainError(Exception):
    """A query argument the domain refuses. Duck-typed for the AppSync edge: it reads
    `error_type`, `error_info` and `data` without this layer importing GraphQL."""

    error_type = "BadRequest"

    def __init__(self, message: str, *, error_info: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_info = error_info
        self.data = None


class InvalidArgumentError(DomainError):
    error_type = "InvalidArgument"


class NotFoundError(DomainError):
    error_type = "NotFound"
