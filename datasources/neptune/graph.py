"""The recommendation graph: its vertices and edges, and the idempotent writes that keep it.

    (customer) -purchased {orderId, ts, quantity, channel}-> (product)   one per order and product
    (customer) -viewed {ts}-> (product)                      one per customer and product, last view
    (product)  -in_category-> (category)                     the category and each of its ancestors
    (product)  -made_by-> (brand)
    (product)  -stocked_at-> (location)

Vertex ids are the DynamoDB ids (`T.id`, strings, as Neptune expects) and vertices carry no
properties: names, prices and stock are hydrated from DynamoDB. Edge ids are derived from
their ends (and the order, for purchases), so every write is an upsert by id (`mergeV` /
`mergeE`, TinkerPop 3.6+, Neptune engine 1.2.1+) that a retry or a replayed event repeats
harmlessly. Linking a product to the ancestors of its category lets `similar` score products
of sibling categories above unrelated ones. No lambdas anywhere (Neptune refuses them).

gremlinpython is untyped: traversals are `Traversal` (= Any) and stay inside this package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeAlias

from gremlin_python.process.traversal import Direction, Merge, T

from datasources import frozen
from datasources.recommendations import PurchaseLine

Traversal: TypeAlias = Any  # a gremlinpython GraphTraversal / GraphTraversalSource

CUSTOMER = "customer"
PRODUCT = "product"
CATEGORY = "category"
BRAND = "brand"
LOCATION = "location"

PURCHASED = "purchased"
VIEWED = "viewed"
IN_CATEGORY = "in_category"
MADE_BY = "made_by"
STOCKED_AT = "stocked_at"

# Neptune's guidance for batched upserts is tens to a few hundred per request.
UPSERT_BATCH = 100


def purchased_edge_id(order_id: str, product_id: str) -> str:
    return f"{PURCHASED}:{order_id}:{product_id}"


def viewed_edge_id(customer_id: str, product_id: str) -> str:
    return f"{VIEWED}:{customer_id}:{product_id}"


def link_edge_id(label: str, out_id: str, in_id: str) -> str:
    return f"{label}:{out_id}:{in_id}"


@frozen.record
class _Edge:
    id: str
    label: str
    out_id: str
    in_id: str
    properties: tuple[tuple[str, object], ...] = ()
    # Properties also set when the edge exists (the last view's time); others only on create.
    update: bool = False


class Upserts:
    """Idempotent vertex and edge upserts, sent as one traversal (one round trip).

    Vertices go first, so every edge finds its ends; a vertex named twice is merged once.
    Keep a batch under `UPSERT_BATCH` writes (see `batches`).
    """

    def __init__(self) -> None:
        self._vertices: dict[str, str] = {}
        self._edges: dict[str, _Edge] = {}

    def __len__(self) -> int:
        return len(self._vertices) + len(self._edges)

    def vertex(self, label: str, vertex_id: str) -> Upserts:
        known = self._vertices.setdefault(vertex_id, label)
        if known != label:
            raise ValueError(f"vertex {vertex_id!r} is a {known}, not a {label}")
        return self

    def customer(self, customer_id: str) -> Upserts:
        return self.vertex(CUSTOMER, customer_id)

    def category(self, category_id: str) -> Upserts:
        return self.vertex(CATEGORY, category_id)

    def brand(self, brand_id: str) -> Upserts:
        return self.vertex(BRAND, brand_id)

    def location(self, location_id: str) -> Upserts:
        return self.vertex(LOCATION, location_id)

    def product(
        self,
        product_id: str,
        *,
        category_ids: Iterable[str] = (),
        brand_id: str | None = None,
        location_ids: Iterable[str] = (),
    ) -> Upserts:
        """A product and its links: pass the category path (root to leaf) as `category_ids`."""
        self.vertex(PRODUCT, product_id)
        for category_id in category_ids:
            self.category(category_id)._link(IN_CATEGORY, product_id, category_id)
        if brand_id is not None:
            self.brand(brand_id)._link(MADE_BY, product_id, brand_id)
        for location_id in location_ids:
            self.location(location_id)._link(STOCKED_AT, product_id, location_id)
        return self

    def purchase(
        self,
        order_id: str,
        customer_id: str,
        lines: Sequence[PurchaseLine],
        ts: datetime,
        *,
        channel: str | None = None,
    ) -> Upserts:
        """One `purchased` edge per product of the order (lines of one product are summed)."""
        _require_utc(ts)
        self.customer(customer_id)
        quantities: dict[str, int] = {}
        for line in lines:
            quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity
        for product_id, quantity in quantities.items():
            self.vertex(PRODUCT, product_id)
            props: list[tuple[str, object]] = [
                ("orderId", order_id),
                ("ts", ts),
                ("quantity", quantity),
            ]
            if channel is not None:
                props.append(("channel", channel))
            edge_id = purchased_edge_id(order_id, product_id)
            self._edges[edge_id] = _Edge(edge_id, PURCHASED, customer_id, product_id, tuple(props))
        return self

    def view(self, customer_id: str, product_id: str, ts: datetime) -> Upserts:
        _require_utc(ts)
        self.customer(customer_id).vertex(PRODUCT, product_id)
        edge_id = viewed_edge_id(customer_id, product_id)
        self._edges[edge_id] = _Edge(
            edge_id, VIEWED, customer_id, product_id, (("ts", ts),), update=True
        )
        return self

    def traversal(self, g: Traversal) -> Traversal:
        """`g.mergeV(..)...mergeE(..).none()`: Neptune's documented form of batched upserts."""
        steps: list[Callable[[Traversal], Traversal]] = [
            _merge_vertex(label, vertex_id) for vertex_id, label in self._vertices.items()
        ]
        steps += [_merge_edge(edge) for edge in self._edges.values()]
        if not steps:
            raise ValueError("nothing to write")
        t = g
        for step in steps:
            t = step(t)
        return t.none()

    def merge(self, other: Upserts) -> Upserts:
        """Add `other`'s writes to this set (a vertex named in both keeps one label)."""
        for vertex_id, label in other._vertices.items():
            self.vertex(label, vertex_id)
        self._edges.update(other._edges)
        return self

    def _link(self, label: str, out_id: str, in_id: str) -> None:
        edge_id = link_edge_id(label, out_id, in_id)
        self._edges[edge_id] = _Edge(edge_id, label, out_id, in_id)


def batches(upserts: Iterable[Upserts], size: int = UPSERT_BATCH) -> Iterable[Upserts]:
    """Merge small upsert sets into batches of about `size` writes each."""
    batch = Upserts()
    for item in upserts:
        batch.merge(item)
        if len(batch) >= size:
            yield batch
            batch = Upserts()
    if len(batch):
        yield batch


def _merge_vertex(label: str, vertex_id: str) -> Callable[[Traversal], Traversal]:
    def step(t: Traversal) -> Traversal:
        return t.merge_v({T.id: vertex_id, T.label: label})

    return step


def _merge_edge(edge: _Edge) -> Callable[[Traversal], Traversal]:
    def step(t: Traversal) -> Traversal:
        match = {
            T.id: edge.id,
            T.label: edge.label,
            Direction.OUT: edge.out_id,
            Direction.IN: edge.in_id,
        }
        t = t.merge_e(match)
        if edge.properties:
            props = dict(edge.properties)
            t = t.option(Merge.on_create, props)
            if edge.update:
                # Edge properties are single-valued, so on_match overwrites.
                t = t.option(Merge.on_match, props)
        return t

    return step


def _require_utc(ts: datetime) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("graph timestamps must be timezone-aware (UTC)")
