"""The schema, built from the domain roots — one visible list of what the graph serves."""

from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from graphql.execution import Executor
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.tools import merge_types

from schema.cart.mutations import CartMutation
from schema.cart.queries import CartQuery
from schema.catalog.queries import CatalogQuery
from schema.customer.queries import CustomerQuery
from schema.events import EventMutation
from schema.inventory.queries import InventoryQuery
from schema.order.mutations import OrderMutation
from schema.order.queries import OrderQuery
from schema.scalars import AWS_SCALAR_MAP
from schema.sdl import check_appsync_schema
from schema.subscriptions import Subscription

QUERIES = (CatalogQuery, InventoryQuery, CustomerQuery, CartQuery, OrderQuery)
MUTATIONS = (CartMutation, OrderMutation, EventMutation)

Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS)


def build_schema(
    *,
    extensions: Sequence[Callable[[], SchemaExtension]] = (),
    execution_context_class: type[Executor[Any]] | None = None,
) -> strawberry.Schema:
    """The schema; the AppSync edge injects its extensions (authorization, limits, cache)."""
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        scalar_overrides=dict(AWS_SCALAR_MAP),
        # Factories: Strawberry keeps the LRU caches at module level, shared by every request.
        extensions=[
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
            *extensions,
        ],
        execution_context_class=execution_context_class,
    )
    check_appsync_schema(schema)
    return schema
