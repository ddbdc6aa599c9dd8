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
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from datasources import frozen
from datasources.cart import CartRecord, CartStatus
from datasources.errors import ConditionFailedError, SourceError
from datasources.loyalty import InsufficientPointsError, RedemptionRecord, RedemptionStatus
from datasources.order import (
    CheckoutConflictError,
    IdempotencyRecord,
    OrderLineRecord,
    OrderPaymentRecord,
    OrderRecord,
    OrderStatus,
    StockReservation,
)
from datasources.payments import PaymentRecord, PaymentRequest, PaymentStatus
from datasources.recommendations import purchase_of
from datasources.records import MoneyRecord, Page
from resolvers import tax
from resolvers.access import require
from resolvers.cart import now_iso
from resolvers.context import Context
from resolvers.errors import NotFoundError, OrderErrorCode, UserErrorRecord
from resolvers.events import order_placed
from resolvers.inventory import location_index
from resolvers.paging import checked_limit
from resolvers.pricing import prices_for

# Lost races worth retrying: a line added to the cart between read and write, or (on real
# DynamoDB) a TransactionConflict with another transaction on the same stock item.
MAX_ATTEMPTS = 5
MAX_REDEEM_POINTS = 10_000_000
CENT = Decimal("0.01")

log = logging.getLogger(__name__)


@frozen.record
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


def _request_hash(cart_id: str, payment_method: str | None, redeem_points: int) -> str:
    return hashlib.sha256(
        f"placeOrder\n{cart_id}\n{payment_method or ''}\n{redeem_points}".encode()
    ).hexdigest()


def _order_id(idempotency_key: str, request_hash: str) -> str:
    """The same for every retry of one checkout, so the loyalty redemption (keyed by order)
    and the payment (keyed by order and amount) of a retry are the first attempt's."""
    digest = hashlib.sha256(f"{idempotency_key}\n{request_hash}".encode()).hexdigest()
    return f"ord_{digest[:32]}"


class _SideEffects:
    """What one placeOrder call did outside DynamoDB, so it can be undone if no order commits.

    Only definite failures are undone. When the order transaction's outcome is unknown (a
    timeout), nothing is: the client retries with the same key, which finds the same
    redemption and payment (both idempotent) and either commits or replays.
    """

    def __init__(self, ctx: Context, order_id: str) -> None:
        self._ctx = ctx
        self.order_id = order_id
        self.redeemed = False
        self.payments: dict[str, PaymentRecord] = {}

    async def redeem(self, customer_id: str, points: int) -> RedemptionRecord:
        # Set first: after a timeout the redemption may have happened, and compensating one
        # that did not is harmless (the loyalty system fences the order id against it).
        self.redeemed = True
        return await self._ctx.sources.loyalty.redeem(
            order_id=self.order_id, customer_id=customer_id, points=points
        )

    async def authorize(
        self, amount: MoneyRecord, method: str, customer_id: str | None
    ) -> PaymentRecord:
        # The amount is in the key: if the cart changed between attempts, the new amount is a
        # new payment (the provider refuses a key reused with other parameters), and the old
        # one is cancelled below.
        payment = await self._ctx.sources.payments.authorize(
            PaymentRequest(
                order_id=self.order_id,
                amount=amount,
                payment_method=method,
                idempotency_key=f"{self.order_id}:{amount.amount}{amount.currency_code}",
                customer_id=customer_id,
                description=f"Order {self.order_id}",
            )
        )
        self.payments[payment.id] = payment
        return payment

    async def undo(self, placed: OrderRecord | None) -> None:
        committed = placed is not None and placed.id == self.order_id
        keep = placed.payment.id if committed and placed and placed.payment else None
        for payment in self.payments.values():
            if payment.id == keep or payment.status is not PaymentStatus.AUTHORIZED:
                continue
            try:
                await self._ctx.sources.payments.cancel(
                    payment.id, idempotency_key=f"{payment.id}:cancel"
                )
            except SourceError as exc:
                log.error(
                    "payment %s of order %s not cancelled (%s): the authorization lapses "
                    "unless cancelled at the provider",
                    payment.id,
                    self.order_id,
                    exc.error_type,
                )
        if self.redeemed and not committed:
            try:
                await self._ctx.sources.loyalty.compensate(self.order_id)
            except SourceError as exc:
                log.error(
                    "points redeemed for order %s not given back (%s): compensate it in the "
                    "loyalty system",
                    self.order_id,
                    exc.error_type,
                )


async def place_order(
    ctx: Context,
    *,
    cart_id: str,
    idempotency_key: str,
    payment_method: str | None = None,
    redeem_points: int = 0,
) -> OrderResult:
    """Check a cart out: price, tax, redeem points, authorize payment, then commit.

    Nothing external happens before the checks that need no one else (cart, prices, stock);
    the order, its stock reservation and the checked-out cart then commit in one DynamoDB
    transaction after the payment is authorized. So a declined payment, a tax or loyalty
    outage, leaves no order and reserves no stock, and if the transaction fails (stock
    went meanwhile) the payment is cancelled and the points given back. Calls for one cart
    are serialized in the process, so duplicates of a checkout do not race each other.
    """
    if not 1 <= len(idempotency_key) <= 255:
        return _error(
            OrderErrorCode.INVALID,
            "idempotencyKey must be 1-255 characters.",
            "input",
            "idempotencyKey",
        )
    if not 0 <= redeem_points <= MAX_REDEEM_POINTS:
        return _error(
            OrderErrorCode.INVALID,
            f"redeemPoints must be between 0 and {MAX_REDEEM_POINTS}.",
            "input",
            "redeemPoints",
        )
    request_hash = _request_hash(cart_id, payment_method, redeem_points)
    order_id = _order_id(idempotency_key, request_hash)
    async with ctx.sources.cart.exclusive(cart_id):
        effects = _SideEffects(ctx, order_id)
        result = await _checkout(
            ctx,
            effects,
            cart_id=cart_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            payment_method=payment_method,
            redeem_points=redeem_points,
        )
        await effects.undo(result.order)
    if result.order is not None and result.order.id == order_id:
        ctx.loaders.order_by_id.prime(result.order.id, result.order)
    return result


async def _checkout(
    ctx: Context,
    effects: _SideEffects,
    *,
    cart_id: str,
    idempotency_key: str,
    request_hash: str,
    payment_method: str | None,
    redeem_points: int,
) -> OrderResult:
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
        planned = await _plan(ctx, cart, effects)
        if isinstance(planned, OrderResult):
            return planned
        new_order, reservations = planned
        settled = await _settle(ctx, effects, cart, new_order, payment_method, redeem_points)
        if isinstance(settled, OrderResult):
            return settled
        try:
            await ctx.sources.order.place_order(
                settled,
                cart_version=cart.version,
                reservations=reservations,
                idempotency=IdempotencyRecord(idempotency_key, request_hash, settled.id),
                events=order_placed(settled, reservations),
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
        await _record_purchase(ctx, settled)
        return OrderResult(settled)
    return _error(
        OrderErrorCode.CONCURRENT_MODIFICATION,
        "The cart kept changing; try again.",
        "input",
        "cartId",
    )


def _spent_key() -> OrderResult:
    return _error(
        OrderErrorCode.IDEMPOTENCY_KEY_REUSED,
        "A checkout with this idempotencyKey failed and was undone; use a new idempotencyKey.",
        "input",
        "idempotencyKey",
    )


async def _settle(
    ctx: Context,
    effects: _SideEffects,
    cart: CartRecord,
    planned: OrderRecord,
    payment_method: str | None,
    redeem_points: int,
) -> OrderRecord | OrderResult:
    """Tax the order, redeem points and authorize the rest: the order as it will be written,
    or the userError that stops it."""
    lines = [(ln.id, ln.unit_price.times(ln.quantity), ln.quantity) for ln in planned.lines]
    try:
        taxed = await tax.calculate(ctx, cart, lines, fresh=True)
    except SourceError as exc:
        return _error(
            OrderErrorCode.TAX_UNAVAILABLE,
            f"Tax cannot be calculated now ({exc.error_type}); try again.",
            "input",
            "cartId",
        )
    order = replace(planned, tax=taxed.tax, total=taxed.gross)
    if redeem_points:
        discount = MoneyRecord(
            (ctx.settings.loyalty_point_value * redeem_points).quantize(CENT),
            cart.currency_code,
        )
        if cart.customer_id is None:
            return _error(
                OrderErrorCode.INVALID,
                "Only a customer's cart can redeem points.",
                "input",
                "redeemPoints",
            )
        if discount.amount > order.total.amount:
            return _error(
                OrderErrorCode.INVALID,
                f"{redeem_points} points are worth more than the order total.",
                "input",
                "redeemPoints",
            )
        try:
            redemption = await effects.redeem(cart.customer_id, redeem_points)
        except InsufficientPointsError:
            return _error(
                OrderErrorCode.INSUFFICIENT_POINTS,
                f"Not enough loyalty points to redeem {redeem_points}.",
                "input",
                "redeemPoints",
            )
        except SourceError as exc:
            return _error(
                OrderErrorCode.LOYALTY_UNAVAILABLE,
                f"Points cannot be redeemed now ({exc.error_type}); try again or place the "
                "order without them.",
                "input",
                "redeemPoints",
            )
        if redemption.status is not RedemptionStatus.REDEEMED:
            return _spent_key()  # an earlier attempt with this key failed and gave them back
        order = replace(order, points_redeemed=redeem_points, discount=discount)
    due = order.amount_due
    if due.amount <= 0:
        return order
    if not payment_method:
        return _error(
            OrderErrorCode.PAYMENT_REQUIRED,
            "A paymentMethodId is needed to pay the order.",
            "input",
            "paymentMethodId",
        )
    try:
        payment = await effects.authorize(due, payment_method, cart.customer_id)
    except SourceError as exc:
        return _error(
            OrderErrorCode.PAYMENT_UNAVAILABLE,
            f"The payment provider cannot be reached now ({exc.error_type}); try again.",
            "input",
            "paymentMethodId",
        )
    if payment.status is PaymentStatus.DECLINED:
        reason = payment.message or "The payment was declined."
        return _error(OrderErrorCode.PAYMENT_DECLINED, reason, "input", "paymentMethodId")
    if payment.status is PaymentStatus.CANCELED:
        return _spent_key()  # the provider replays a payment an earlier attempt cancelled
    if payment.status is PaymentStatus.REQUIRES_ACTION:
        return _error(
            OrderErrorCode.PAYMENT_REQUIRES_ACTION,
            "The payment needs the shopper to authenticate; use another payment method.",
            "input",
            "paymentMethodId",
        )
    return replace(
        order,
        payment=OrderPaymentRecord(
            id=payment.id,
            provider=payment.provider,
            status=payment.status.value,
            amount=payment.amount,
        ),
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
    ctx: Context, cart: CartRecord, effects: _SideEffects
) -> tuple[OrderRecord, list[StockReservation]] | OrderResult:
    """Price every line and pick the location that reserves it, or say why not."""
    product_ids = [ln.product_id for ln in cart.lines]
    products = await ctx.loaders.product_by_id.load_many(product_ids)
    try:
        prices = await prices_for(ctx, product_ids, customer_id=cart.customer_id, products=products)
    except SourceError as exc:
        return _error(
            OrderErrorCode.PRICING_UNAVAILABLE,
            f"The customer's prices cannot be read now ({exc.error_type}); try again.",
            "input",
            "cartId",
        )
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
    order_id = effects.order_id
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
