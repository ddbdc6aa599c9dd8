"""The AppSync API's own settings (limits, caching, rate limit), from `CG_` variables.

Authentication has its own class (`appsync.auth.AuthSettings`, `CG_AUTH_`).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from appsync.caching import CacheSettings, CachingBehavior, CachingConfig
from appsync.limits import Introspection, LimitSettings
from datasources.envsettings import EnvSettings, SecretStr, setting

# PER_RESOLVER_CACHING's cachingConfig, as it would be set on each AppSync resolver: the
# catalog's public reads, and carts keyed by id (evicted by every cart mutation).
CACHED_RESOLVERS = {
    "Query.product": CachingConfig(60, ("$context.arguments.id", "$context.arguments.sku")),
    "Query.category": CachingConfig(300, ("$context.arguments.id",)),
    "Query.categories": CachingConfig(
        300,
        ("$context.arguments.parentId", "$context.arguments.limit", "$context.arguments.nextToken"),
    ),
    "Query.cart": CachingConfig(30, ("$context.arguments.id",)),
}


class EdgeSettings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_"

    query_depth_limit: int = setting(default=0, ge=0, le=75)
    resolver_count_limit: int = setting(default=10_000, ge=0, le=10_000)
    introspection: Introspection = Introspection.ENABLED
    max_tokens: int = setting(default=15_000, ge=1)
    max_aliases: int = setting(default=100, ge=1)
    execution_timeout_seconds: float = setting(default=30.0, gt=0)

    rate_limit_per_second: float = setting(default=50.0, gt=0)
    rate_limit_burst: int = setting(default=100, ge=1)

    caching: Literal["NONE", "FULL_REQUEST_CACHING", "PER_RESOLVER_CACHING"] = "NONE"
    cache_ttl_seconds: int = setting(default=300, ge=1, le=3600)
    cache_secret: SecretStr = SecretStr("dev-only-cache-secret-change-me")

    redis_url: str | None = setting(
        default=None, description="Shared rate-limit buckets and cache; None = in memory."
    )

    def limits(self) -> LimitSettings:
        return LimitSettings(
            query_depth_limit=self.query_depth_limit,
            resolver_count_limit=self.resolver_count_limit,
            introspection=self.introspection,
            max_tokens=self.max_tokens,
            max_aliases=self.max_aliases,
            execution_timeout=self.execution_timeout_seconds,
        )

    def cache(self) -> CacheSettings | None:
        if self.caching == "NONE":
            return None
        return CacheSettings(
            CachingBehavior(self.caching), ttl=self.cache_ttl_seconds, resolvers=CACHED_RESOLVERS
        )
