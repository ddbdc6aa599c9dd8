"""Orders: reads, and `placeOrder` as one idempotent transaction.

Once the transaction has committed, placeOrder also records the purchase in the
recommendation graph. That write is best effort: DynamoDB holds the order, the graph is a
projection of it, and a graph that is down, slow or refusing must never fail an order that
is already placed. The failure is logged, and `commerce-graph graph rebuild` repairs the graph
from DynamoDB (docs/graph.md).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from datasources.cart import CartRecord, CartStatus
from datasources.errors import ConditionFailedError, SourceError
from datasources.order import (
    CheckoutConflictError,
    IdempotencyRecord,
    OrderLineRecord,
    OrderRecord,
    OrderStatus,
    StockReservation,
)
from datasources.recommendations import purchase_of
from datasources.records import MoneyRecord, Page
from resolvers.access import require
from resolvers.cart import now_iso
from resolvers.context import Context
from resolvers.errors import NotFoundError, OrderErrorCode, UserErrorRecord
from resolvers.inventory import location_index
from resolvers.paging import checked_limit

# Lost races worth retrying: a line added to the cart between read and write, or (on real
# DynamoDB) a TransactionConflict with another transaction on the same stock item.
MAX_ATTEMPTS = 5

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderResult:
    order: OrderRecord | None
    user_errors: Sequence[UserErrorRecord] = ()


def _error(code: OrderErrorCode, message: str, *field: str) -> OrderResult:
    return OrderResult(None, [UserErrorRecord(message, code.value, list(field) or None)])


async def order(ctx: Context, *, id: str) -> OrderRecord:
    record = await ctx.loaders.order_by_id.load(id)
    if record is None:
        raise NotFoundError(f"No order has id '{id}'.")
    require(ctx.actor, record.customer_id, "order", "Query")
    return record


async def orders_of_customer(
    ctx: Context, customer_id: str, *, limit: int | None, next_token: str | None
) -> Page[OrderRecord]:
    return await ctx.sources.order.list_orders_by_customer(
        customer_id, limit=checked_limit(limit), next_token=next_token
    )


def _request_hash(cart_id: str) -> str:
    return hashlib.sha256(f"placeOrder\n{cart_id}".encode()).hexdigest()


async def place_order(ctx: Context, *, cart_id: str, idempotency_key: str) -> OrderResult:
    if not 1 <= len(idempotency_key) <= 255:
        return _error(
            OrderErrorCode.INVALID,
            "idempotencyKey must be 1-255 characters.",
            "input",
            "idempotencyKey",
        )
    request_hash = _request_hash(cart_id)
    for _ in range(MAX_ATTEMPTS):
        replay = await _replay(ctx, idempotency_key, request_hash)
        if replay is not None:
            return replay
        cart = await ctx.sources.cart.get_cart(cart_id)
        if cart is None:
            return _error(OrderErrorCode.CART_NOT_FOUND, "No such cart.", "input", "cartId")
        require(ctx.actor, cart.customer_id, "placeOrder", "Mutation")
        if cart.status is not CartStatus.ACTIVE:
            return _error(
                OrderErrorCode.CART_CHECKED_OUT,
                "The cart is already checked out.",
                "input",
                "cartId",
            )
        if not cart.lines:
            return _error(OrderErrorCode.CART_EMPTY, "The cart is empty.", "input", "cartId")
        planned = await _plan(ctx, cart)
        if isinstance(planned, OrderResult):
            return planned
        new_order, reservations = planned
        try:
            await ctx.sources.order.place_order(
                new_order,
                cart_version=cart.version,
                reservations=reservations,
                idempotency=IdempotencyRecord(idempotency_key, request_hash, new_order.id),
            )
        except CheckoutConflictError as exc:
            if exc.idempotency_key_taken:
                continue  # a concurrent duplicate won: the replay above answers it
            if exc.short_stock:
                skus = ", ".join(sorted({r.variant_id for r in exc.short_stock}))
                return _error(
                    OrderErrorCode.INSUFFICIENT_STOCK,
                    f"Not enough stock for {skus}.",
                    "input",
                    "cartId",
                )
            continue  # the cart changed or the transaction conflicted: plan again
        except ConditionFailedError:
            continue
        ctx.loaders.order_by_id.prime(new_order.id, new_order)
        await _record_purchase(ctx, new_order)
        return OrderResult(new_order)
    return _error(
        OrderErrorCode.CONCURRENT_MODIFICATION,
        "The cart kept changing; try again.",
        "input",
        "cartId",
    )


async def _record_purchase(ctx: Context, placed: OrderRecord) -> None:
    """Add the order's purchased edges to the graph; never fails the (committed) order."""
    purchase = purchase_of(placed)
    if purchase is None:
        return
    try:
        await ctx.sources.recommendations.add_purchase(
            purchase.order_id,
            purchase.customer_id,
            purchase.lines,
            purchase.ts,
            channel=purchase.channel,
        )
    except SourceError as exc:
        log.warning(
            "order %s is placed but not in the recommendation graph (%s: %s); "
            "`commerce-graph graph rebuild` adds it",
            placed.id,
            exc.error_type,
            exc.message,
        )
    except Exception:  # a bug of ours: still no reason to fail a placed order
        log.exception("order %s is placed but its graph write failed", placed.id)


async def _replay(ctx: Context, key: str, request_hash: str) -> OrderResult | None:
    record = await ctx.sources.order.idempotency_record(key)
    if record is None:
        return None
    if record.request_hash != request_hash:
        return _error(
            OrderErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This idempotencyKey was used with a different input.",
            "input",
            "idempotencyKey",
        )
    (placed,) = await ctx.sources.order.orders_by_id([record.order_id])
    require(ctx.actor, placed.customer_id if placed else None, "placeOrder", "Mutation")
    return OrderResult(placed)


async def _plan(
    ctx: Context, cart: CartRecord
) -> tuple[OrderRecord, list[StockReservation]] | OrderResult:
    """Price every line and pick the location that reserves it, or say why not."""
    product_ids = [ln.product_id for ln in cart.lines]
    products = await ctx.loaders.product_by_id.load_many(product_ids)
    prices = await ctx.loaders.prices_by_product.load_many(product_ids)
    stocks = await ctx.sources.inventory.stock_by_product(product_ids)  # fresh, not cached
    if cart.location_id is not None:
        candidates = [cart.location_id]
    else:
        candidates = sorted((await location_index(ctx)).serving(cart.channel))
    lines, reservations = [], []
    for line, product, price_list, stock in zip(cart.lines, products, prices, stocks, strict=True):
        price = price_list.price(line.variant_id, cart.channel) if price_list else None
        variant = (
            next((v for v in product.variants if v.id == line.variant_id), None)
            if product
            else None
        )
        if product is None or variant is None or price is None:
            return _error(
                OrderErrorCode.NOT_PRICED,
                f"{line.variant_id} cannot be sold now.",
                "input",
                "cartId",
            )
        levels = stock.levels(line.variant_id) if stock else {}
        location_id = next(
            (loc for loc in candidates if loc in levels and levels[loc].available >= line.quantity),
            None,
        )
        if location_id is None:
            return _error(
                OrderErrorCode.INSUFFICIENT_STOCK,
                f"Not enough stock for {variant.sku}.",
                "input",
                "cartId",
            )
        reservations.append(
            StockReservation(line.product_id, line.variant_id, location_id, line.quantity)
        )
        lines.append(
            OrderLineRecord(
                id=line.id,
                product_id=product.id,
                variant_id=variant.id,
                sku=variant.sku,
                product_name=product.name,
                variant_name=variant.name,
                quantity=line.quantity,
                unit_price=price.price,
                location_id=location_id,
            )
        )
    subtotal = MoneyRecord.zero(cart.currency_code)
    for ln in lines:
        subtotal += ln.unit_price.times(ln.quantity)
    order_id = f"ord_{uuid.uuid4().hex}"
    placed = OrderRecord(
        id=order_id,
        number=order_id[4:12].upper(),
        cart_id=cart.id,
        channel=cart.channel,
        status=OrderStatus.UNFULFILLED,
        lines=tuple(lines),
        subtotal=subtotal,
        tax=MoneyRecord.zero(cart.currency_code),
        total=subtotal,
        placed_at=now_iso(),
        customer_id=cart.customer_id,
    )
    return placed, reservations
