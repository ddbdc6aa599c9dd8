"""The per-request context: settings, the shared sources, fresh loaders, the caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from datasources.build import Sources
from datasources.settings import Settings
from resolvers.access import ANONYMOUS, Actor
from resolvers.loaders import Loaders


@dataclass(slots=True)
class Context:
    settings: Settings
    sources: Sources
    loaders: Loaders
    headers: Mapping[str, str] = field(default_factory=dict)
    # The authenticated caller (`appsync.auth.Caller`), which the edge reads back for
    # field-level authorization; typed loosely because this layer may not import the edge.
    caller: Any = None
    # The API cache (`appsync.cache.ApiCache`) when caching is on: mutations evict from it.
    cache: Any = None
    actor: Actor = ANONYMOUS


def build_context(
    settings: Settings,
    sources: Sources,
    *,
    headers: Mapping[str, str] | None = None,
    caller: Any = None,
    cache: Any = None,
    actor: Actor = ANONYMOUS,
) -> Context:
    return Context(settings, sources, Loaders(sources), dict(headers or {}), caller, cache, actor)
