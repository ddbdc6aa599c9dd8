"""AppSync/Amplify list arguments: `limit` (1..100) and an opaque `nextToken`."""

from __future__ import annotations

from resolvers.errors import InvalidArgumentError

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def checked_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgumentError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
    return limit
