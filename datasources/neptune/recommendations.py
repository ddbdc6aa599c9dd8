"""Recommendations on Neptune: `RecommendationSource` (datasources/recommendations.py), one
traversal per batch.

Every read is batch-first, the shape of a DataLoader's `load_fn`: N products (or customers)
in, N ranked lists out, in the same order, from ONE traversal keyed by id
(`g.V(ids).project('id', 'recs')...`). Rankings are deterministic: score descending, then id
ascending. A list's order is its ranking; scores say why, and compare within their kind only:

- `also_bought(p)`: customers who bought p; the other products they bought; score = how many
  distinct such customers bought each (a repeat purchase does not count twice).
- `similar(p)`: products sharing p's categories (its category path) and brand; score = the
  number of shared categories plus one for the brand.
- `for_customer(c)`: seeds are c's purchases and last `recent_views` views; score = the
  also-bought paths from the seeds through other customers; a seed does not recommend
  itself, and nothing c bought is recommended. Short lists (a cold start gives an empty one)
  are filled with the channel's bestsellers, then the overall ones (score = units sold;
  cached for `bestsellers_ttl_seconds`, so a batch costs one round trip, two when stale).
- `for_cart(products)`: also-bought of every cart product, summed, minus the cart's contents.

The bestseller traversal scans every purchase edge: fine for a demo or a modest catalogue,
and the reason its answer is cached; a large Neptune graph would precompute it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from gremlin_python.process.graph_traversal import __
from gremlin_python.process.traversal import Column, Order, P, Scope, T

from datasources.errors import SourceError
from datasources.neptune.client import NeptuneClient
from datasources.neptune.graph import (
    CATEGORY,
    CUSTOMER,
    IN_CATEGORY,
    MADE_BY,
    PRODUCT,
    PURCHASED,
    VIEWED,
    Traversal,
    Upserts,
)
from datasources.recommendations import PurchaseLine, RankedProduct

MAX_LIMIT = 100
# Bestsellers kept per channel: enough to fill a full list after removing what was bought.
BESTSELLERS_KEPT = 2 * MAX_LIMIT
_OVERALL = "*"


# gremlinpython traversals are mutable builders: every function below returns a fresh one, and
# each `build(g)` handed to the client makes all of its parts anew, since a retry calls it again.


def _ranked(candidates: Traversal, limit: int) -> Traversal:
    """Count candidates by id, highest first, ties by id, keep `limit`: an ordered {id: n}."""
    return (
        candidates.group_count()
        .by(T.id)
        .order(Scope.local)
        .by(Column.values, Order.desc)
        .by(Column.keys, Order.asc)
        .limit(Scope.local, limit)
    )


def _co_purchased(t: Traversal) -> Traversal:
    """From products: each distinct buyer's distinct purchases (one path per buyer)."""
    return t.local(__.in_(PURCHASED).dedup()).local(__.out(PURCHASED).dedup())


def _also_bought() -> Traversal:
    return _co_purchased(__.as_("p")).where(P.neq("p"))


def _similar() -> Traversal:
    # One path per shared category and per shared brand: the score adds them up.
    return (
        __.as_("p")
        .union(__.out(IN_CATEGORY).has_label(CATEGORY), __.out(MADE_BY))
        .in_(IN_CATEGORY, MADE_BY)
        .has_label(PRODUCT)
        .where(P.neq("p"))
    )


def _personal(recent_views: int) -> Traversal:
    """From a customer `c`: also-bought of its purchases and recent views (the seeds `s`),
    through other customers, minus the seeds and whatever `c` bought."""
    seeds = [__.out(PURCHASED)]
    if recent_views:
        seeds.append(__.out_e(VIEWED).order().by("ts", Order.desc).limit(recent_views).in_v())
    return (
        __.as_("c")
        .union(*seeds)
        .dedup()
        .as_("s")
        .local(__.in_(PURCHASED).where(P.neq("c")).dedup())
        .local(__.out(PURCHASED).dedup())
        .where(P.neq("s"))
        .as_("q")
        .not_(__.select("c").out(PURCHASED).where(P.eq("q")))
    )


def _units_sold(channel: str | None) -> Traversal:
    edges = __.V().has_label(CUSTOMER).out_e(PURCHASED)
    if channel is not None:
        edges = edges.has("channel", channel)
    return (
        edges.group()
        .by(__.in_v().id_())
        .by(__.values("quantity").sum_())
        .order(Scope.local)
        .by(Column.values, Order.desc)
        .by(Column.keys, Order.asc)
        .limit(Scope.local, BESTSELLERS_KEPT)
    )


def _as_list(counts: Mapping[Any, Any]) -> list[RankedProduct]:
    return [RankedProduct(str(k), int(v)) for k, v in counts.items()]


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


class NeptuneRecommendationSource:
    """`RecommendationSource` on Neptune (or Gremlin Server), through one `NeptuneClient`."""

    def __init__(
        self,
        client: NeptuneClient,
        *,
        recent_views: int = 20,
        bestsellers_ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._recent_views = recent_views
        self._best_ttl = bestsellers_ttl_seconds
        self._clock = clock
        self._best: dict[str, tuple[float, list[RankedProduct]]] = {}
        self._best_lock = asyncio.Lock()

    async def also_bought(
        self, product_ids: Sequence[str], limit: int
    ) -> Sequence[Sequence[RankedProduct]]:
        return await self._per_product(product_ids, limit, _also_bought)

    async def similar(
        self, product_ids: Sequence[str], limit: int
    ) -> Sequence[Sequence[RankedProduct]]:
        return await self._per_product(product_ids, limit, _similar)

    async def for_customer(
        self, customer_ids: Sequence[str], limit: int, *, channel: str | None = None
    ) -> Sequence[Sequence[RankedProduct]]:
        limit = _check_limit(limit)
        ids = _unique(customer_ids)
        if not ids or not limit:
            return [[] for _ in customer_ids]
        recent = self._recent_views
        rows = await self.client.read(
            lambda g: (
                g.V(*ids)
                .has_label(CUSTOMER)
                .project("id", "recs", "bought")
                .by(T.id)
                .by(_ranked(_personal(recent), limit))
                .by(__.out(PURCHASED).id_().dedup().fold())
            )
        )
        found = {str(row["id"]): row for row in rows}
        lists = {cid: _as_list(found[cid]["recs"]) if cid in found else [] for cid in ids}
        short = [cid for cid in ids if len(lists[cid]) < limit]
        if short:
            try:
                fill = await self._bestsellers(channel)
            except SourceError:
                if any(not lists[cid] for cid in short):
                    raise  # a cold start has nothing else to show
                fill = []  # the personal lists stand on their own
            for cid in short:
                bought = {str(p) for p in found[cid]["bought"]} if cid in found else set()
                lists[cid] = _fill(lists[cid], fill, exclude=bought, limit=limit)
        return [lists[cid] for cid in customer_ids]

    async def for_cart(self, product_ids: Sequence[str], limit: int) -> Sequence[RankedProduct]:
        limit = _check_limit(limit)
        ids = _unique(product_ids)
        if not ids or not limit:
            return []
        # aggregate() is a barrier: the whole cart is known before candidates are filtered.
        rows = await self.client.read(
            lambda g: _ranked(
                _co_purchased(g.V(*ids).has_label(PRODUCT).aggregate("cart")).where(
                    P.without("cart")
                ),
                limit,
            )
        )
        return _as_list(rows[0]) if rows else []

    async def add_purchase(
        self,
        order_id: str,
        customer_id: str,
        lines: Sequence[PurchaseLine],
        ts: datetime,
        *,
        channel: str | None = None,
    ) -> None:
        if lines:
            await self.write(Upserts().purchase(order_id, customer_id, lines, ts, channel=channel))

    async def add_view(self, customer_id: str, product_id: str, ts: datetime) -> None:
        await self.write(Upserts().view(customer_id, product_id, ts))

    async def write(self, upserts: Upserts) -> None:
        """One batch of upserts, one round trip; safe to retry (upserts by id)."""
        if len(upserts):
            await self.client.write(upserts.traversal, idempotent=True)

    async def _per_product(
        self, product_ids: Sequence[str], limit: int, candidates: Callable[[], Traversal]
    ) -> Sequence[Sequence[RankedProduct]]:
        limit = _check_limit(limit)
        ids = _unique(product_ids)
        if not ids or not limit:
            return [[] for _ in product_ids]
        rows = await self.client.read(
            lambda g: (
                g.V(*ids)
                .has_label(PRODUCT)
                .project("id", "recs")
                .by(T.id)
                .by(_ranked(candidates(), limit))
            )
        )
        found = {str(row["id"]): _as_list(row["recs"]) for row in rows}
        return [found.get(pid, []) for pid in product_ids]

    async def _bestsellers(self, channel: str | None) -> list[RankedProduct]:
        """The channel's bestsellers followed by the overall ones (cached together)."""
        key = channel or _OVERALL
        async with self._best_lock:
            cached = self._best.get(key)
            if cached is None or self._clock() - cached[0] >= self._best_ttl:
                cached = (self._clock(), await self._fetch_bestsellers(channel))
                self._best[key] = cached
        return cached[1]

    async def _fetch_bestsellers(self, channel: str | None) -> list[RankedProduct]:
        rows = await self.client.read(
            lambda g: (
                g.inject(0)
                .project("channel", "overall")
                .by(_units_sold(channel) if channel else __.constant({}))
                .by(_units_sold(None))
            )
        )
        row = rows[0] if rows else {"channel": {}, "overall": {}}
        return _fill(_as_list(row["channel"]), _as_list(row["overall"]), limit=BESTSELLERS_KEPT)


def _fill(
    first: list[RankedProduct],
    more: Iterable[RankedProduct],
    *,
    exclude: set[str] | None = None,
    limit: int,
) -> list[RankedProduct]:
    """`first`, then items of `more` not yet listed nor excluded, up to `limit`."""
    out = list(first[:limit])
    seen = {r.product_id for r in out} | (exclude or set())
    for item in more:
        if len(out) >= limit:
            break
        if item.product_id not in seen:
            seen.add(item.product_id)
            out.append(item)
    return out


def _check_limit(limit: int) -> int:
    if limit < 0 or limit > MAX_LIMIT:
        raise ValueError(f"limit must be between 0 and {MAX_LIMIT}")
    return limit
