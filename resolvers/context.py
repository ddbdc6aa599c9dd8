"""The per-request context: settings, the shared sources, fresh loaders, the caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from datasources.build import Sources
from datasources.settings import Settings
from resolvers.loaders import Loaders


@dataclass(slots=True)
class Context:
    settings: Settings
    sources: Sources
    loaders: Loaders
    headers: Mapping[str, str] = field(default_factory=dict)


def build_context(
    settings: Settings, sources: Sources, *, headers: Mapping[str, str] | None = None
) -> Context:
    return Context(settings, sources, Loaders(sources), dict(headers or {}))
