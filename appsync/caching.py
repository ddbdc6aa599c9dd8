"""What AppSync caches (APPSYNC.md §6.3): the caching behaviour and each resolver's
`cachingConfig`, checked as AppSync checks them.

Apart from `appsync.cache`, which does the caching, so that reading the settings (the Lambda
handler does, AppSync caching in front of it) does not import the cache's machinery.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = ["CacheSettings", "CachingBehavior", "CachingConfig", "canonical_key"]

_KEY = re.compile(
    r"^\$?(?:context|ctx)\.(?P<map>arguments|args|source|identity)\.(?P<path>\w+(?:\.\w+)*)$"
)
_MAPS: Final = {"arguments": "arguments", "args": "arguments", "source": "source"}


class CachingBehavior(StrEnum):
    FULL_REQUEST_CACHING = "FULL_REQUEST_CACHING"
    PER_RESOLVER_CACHING = "PER_RESOLVER_CACHING"


@dataclass(frozen=True)
class CachingConfig:
    """A resolver's `cachingConfig`: `ttl` 1-3600 s and its caching keys, in order."""

    ttl: int
    caching_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_ttl(self.ttl)
        for key in self.caching_keys:
            canonical_key(key)  # raises on a key AppSync would refuse

    @property
    def canonical_keys(self) -> tuple[str, ...]:
        return tuple(canonical_key(key) for key in self.caching_keys)


@dataclass(frozen=True)
class CacheSettings:
    behavior: CachingBehavior
    ttl: int = 300  # the API cache's TTL: FULL_REQUEST_CACHING entries
    resolvers: Mapping[str, CachingConfig] = field(default_factory=dict)  # "Type.field"

    def __post_init__(self) -> None:
        _check_ttl(self.ttl)
        for name in self.resolvers:
            type_name, dot, field_name = name.partition(".")
            if not (dot and type_name and field_name):
                raise ValueError(f"resolver {name!r} must be spelt 'Type.field'")


def _check_ttl(ttl: int) -> None:
    if not 1 <= ttl <= 3600:
        raise ValueError("ttl must be 1-3600 seconds (AppSync's range)")


def canonical_key(key: str) -> str:
    """`$context.arguments.id` / `$ctx.args.id` / `ctx.args.id` -> `arguments.id`."""
    match = _KEY.match(key.strip())
    if match is None:
        raise ValueError(
            f"caching key {key!r} must name $context.arguments, $context.source or"
            " $context.identity, e.g. '$context.arguments.id'"
        )
    kind = _MAPS.get(match["map"], match["map"])
    return f"{kind}.{match['path']}"
