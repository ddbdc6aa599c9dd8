"""Carts: read-modify-write with optimistic concurrency, totals computed on the server."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from datasources import frozen
from datasources.cart import CartLineRecord, CartRecord, CartStatus
from datasources.errors import ConditionFailedError
from datasources.pricing import ProductPricesRecord
from datasources.records import Channel, MoneyRecord
from resolvers import tax
from resolvers.access import ForbiddenError, require
from resolvers.context import Context
from resolvers.errors import CartErrorCode, NotFoundError, UserErrorRecord
from resolvers.events import cart_updated
from resolvers.inventory import location_index
from resolvers.pricing import prices_for

MAX_QUANTITY = 999
MAX_LINES = 100
DEFAULT_CURRENCY = "USD"


@frozen.record
class LineInput:
    variant_id: str
    quantity: int


@frozen.record
class CartResult:
    cart: CartRecord | None
    user_errors: Sequence[UserErrorRecord] = ()


@frozen.record
class CartTotals:
    subtotal: MoneyRecord
    tax: MoneyRecord
    total: MoneyRecord


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(code: CartErrorCode, message: str, *field: str | int) -> UserErrorRecord:
    return UserErrorRecord(message=message, code=code.value, field=[str(f) for f in field] or None)


async def cart(ctx: Context, *, id: str) -> CartRecord:
    record = await ctx.loaders.cart_by_id.load(id)
    if record is None:
        raise NotFoundError(f"No cart has id '{id}'.")
    require(ctx.actor, record.customer_id, "cart", "Query")
    return record


async def create_cart(
    ctx: Context,
    *,
    channel: Channel,
    location_id: str | None,
    customer_id: str | None,
    country: str | None,
    lines: Sequence[LineInput],
) -> CartResult:
    if channel is Channel.POS and not ctx.actor.may_sell_at_pos:
        raise ForbiddenError("createCart", "Mutation")  # POS carts: store devices and staff
    require(ctx.actor, customer_id, "createCart", "Mutation")
    errors: list[UserErrorRecord] = []
    if channel is Channel.POS and location_id is None:
        errors.append(_error(CartErrorCode.INVALID, "A POS cart needs a locationId.", "locationId"))
    if location_id is not None:
        location = await ctx.loaders.location_by_id.load(location_id)
        if location is None:
            errors.append(
                _error(CartErrorCode.LOCATION_NOT_FOUND, "No such location.", "locationId")
            )
        elif channel not in location.channels:
            errors.append(
                _error(CartErrorCode.INVALID, f"Location does not sell on {channel}.", "locationId")
            )
    if customer_id is not None and await ctx.loaders.customer_by_id.load(customer_id) is None:
        errors.append(_error(CartErrorCode.CUSTOMER_NOT_FOUND, "No such customer.", "customerId"))
    if errors:
        return CartResult(None, errors)
    now = now_iso()
    empty = CartRecord(
        id=f"crt_{uuid.uuid4().hex}",
        channel=channel,
        currency_code=DEFAULT_CURRENCY,
        status=CartStatus.ACTIVE,
        lines=(),
        version=0,
        created_at=now,
        updated_at=now,
        expires_at=int(time.time()) + ctx.settings.cart_ttl_days * 86400,
        location_id=location_id,
        customer_id=customer_id,
        country=country,
    )
    change = await _adding(ctx, empty, lines)
    outcome = change(empty)
    if not isinstance(outcome, CartRecord):
        return CartResult(None, outcome)
    created = replace(outcome, version=1)
    await ctx.sources.cart.create_cart(created, events=[cart_updated(created)])
    return CartResult(created)


async def add_cart_lines(ctx: Context, *, cart_id: str, lines: Sequence[LineInput]) -> CartResult:
    current = await ctx.sources.cart.get_cart(cart_id)
    if current is None:
        return CartResult(None, [_error(CartErrorCode.NOT_FOUND, "No such cart.", "cartId")])
    require(ctx.actor, current.customer_id, "addCartLines", "Mutation")
    change = await _adding(ctx, current, lines)
    return await _mutate(ctx, cart_id, change, "addCartLines", read=current)


async def update_cart_line(
    ctx: Context, *, cart_id: str, line_id: str, quantity: int
) -> CartResult:
    if not 0 <= quantity <= MAX_QUANTITY:
        msg = f"Quantity must be between 0 and {MAX_QUANTITY}."
        return CartResult(None, [_error(CartErrorCode.INVALID, msg, "quantity")])
    current = await ctx.sources.cart.get_cart(cart_id)
    if current is None:
        return CartResult(None, [_error(CartErrorCode.NOT_FOUND, "No such cart.", "cartId")])
    available = await _available(ctx, current, [ln.variant_id for ln in current.lines])

    def change(cart: CartRecord) -> CartRecord | list[UserErrorRecord]:
        line = next((ln for ln in cart.lines if ln.id == line_id), None)
        if line is None:
            return [_error(CartErrorCode.LINE_NOT_FOUND, "No such line.", "lineId")]
        if quantity > available.get(line.variant_id, 0):
            return [_error(CartErrorCode.INSUFFICIENT_STOCK, "Not enough stock.", "quantity")]
        kept = [
            replace(ln, quantity=quantity) if ln.id == line_id else ln
            for ln in cart.lines
            if ln.id != line_id or quantity > 0
        ]
        return cart.with_lines(kept, now=now_iso())

    return await _mutate(ctx, cart_id, change, "updateCartLine", read=current)


async def remove_cart_line(ctx: Context, *, cart_id: str, line_id: str) -> CartResult:
    def change(cart: CartRecord) -> CartRecord | list[UserErrorRecord]:
        if not any(ln.id == line_id for ln in cart.lines):
            return [_error(CartErrorCode.LINE_NOT_FOUND, "No such line.", "lineId")]
        return cart.with_lines([ln for ln in cart.lines if ln.id != line_id], now=now_iso())

    return await _mutate(ctx, cart_id, change, "removeCartLine")


Change = Callable[[CartRecord], CartRecord | list[UserErrorRecord]]


async def _mutate(
    ctx: Context, cart_id: str, change: Change, field: str, *, read: CartRecord | None = None
) -> CartResult:
    """Apply `change` to the latest cart and write it if nobody wrote in between; on a lost
    race re-read and re-apply, with jittered backoff so concurrent writers spread out.

    `read` is a consistent read the caller already made: the first attempt starts from it (a
    stale one merely loses the version condition and is read again)."""
    async with ctx.sources.cart.exclusive(cart_id):
        return await _read_modify_write(ctx, cart_id, change, field, read)


async def _read_modify_write(
    ctx: Context, cart_id: str, change: Change, field: str, read: CartRecord | None
) -> CartResult:
    for attempt in range(ctx.settings.cart_write_max_attempts):
        cart = read if read is not None else await ctx.sources.cart.get_cart(cart_id)
        read = None
        if cart is None:
            return CartResult(None, [_error(CartErrorCode.NOT_FOUND, "No such cart.", "cartId")])
        require(ctx.actor, cart.customer_id, field, "Mutation")
        if cart.status is not CartStatus.ACTIVE:
            msg = "The cart is checked out."
            return CartResult(cart, [_error(CartErrorCode.CART_CHECKED_OUT, msg, "cartId")])
        outcome = change(cart)
        if not isinstance(outcome, CartRecord):
            return CartResult(cart, outcome)
        # The event describes the cart as written: replace_cart stores version + 1.
        event = cart_updated(replace(outcome, version=cart.version + 1))
        try:
            written = await ctx.sources.cart.replace_cart(
                outcome, expected_version=cart.version, events=[event]
            )
        except ConditionFailedError:
            await asyncio.sleep(random.uniform(0, min(0.25, 0.002 * 2**attempt)))
            continue
        ctx.loaders.cart_by_id.prime(cart_id, written, force=True)
        return CartResult(written)
    msg = "The cart kept changing; try again."
    return CartResult(None, [_error(CartErrorCode.CONCURRENT_MODIFICATION, msg, "cartId")])


async def _adding(ctx: Context, cart: CartRecord, lines: Sequence[LineInput]) -> Change:
    """Validate new lines once (ids, prices, stock) and return the change that merges them."""
    errors: list[UserErrorRecord] = []
    for n, line in enumerate(lines):
        if not 1 <= line.quantity <= MAX_QUANTITY:
            msg = f"Quantity must be between 1 and {MAX_QUANTITY}."
            errors.append(_error(CartErrorCode.INVALID, msg, "lines", n, "quantity"))
    refs = await ctx.loaders.variant_ref_by_id.load_many([ln.variant_id for ln in lines])
    prices = await ctx.loaders.prices_by_product.load_many(
        [ref.product_id for ref in refs if ref is not None]
    )
    priced = {
        ref.variant_id
        for ref, p in zip([r for r in refs if r], prices, strict=True)
        if p and p.price(ref.variant_id, cart.channel)
    }
    for n, ref in enumerate(refs):
        if ref is None:
            errors.append(
                _error(CartErrorCode.VARIANT_NOT_FOUND, "No such variant.", "lines", n, "variantId")
            )
        elif ref.variant_id not in priced:
            msg = f"The variant is not sold on {cart.channel}."
            errors.append(_error(CartErrorCode.NOT_PRICED, msg, "lines", n, "variantId"))
    available = await _available(ctx, cart, [ln.variant_id for ln in lines])
    product_of = {ref.variant_id: ref.product_id for ref in refs if ref}

    def change(current: CartRecord) -> CartRecord | list[UserErrorRecord]:
        if errors:
            return errors
        merged = {ln.variant_id: ln for ln in current.lines}
        order = [ln.variant_id for ln in current.lines]
        for line in lines:
            existing = merged.get(line.variant_id)
            if existing is None:
                order.append(line.variant_id)
                merged[line.variant_id] = CartLineRecord(
                    id=f"ln_{uuid.uuid4().hex[:12]}",
                    product_id=product_of[line.variant_id],
                    variant_id=line.variant_id,
                    quantity=line.quantity,
                )
            else:
                merged[line.variant_id] = replace(
                    existing, quantity=existing.quantity + line.quantity
                )
        problems = []
        for n, line in enumerate(lines):
            wanted = merged[line.variant_id].quantity
            if wanted > MAX_QUANTITY:
                msg = f"A line holds at most {MAX_QUANTITY}."
                problems.append(_error(CartErrorCode.INVALID, msg, "lines", n, "quantity"))
            elif wanted > available.get(line.variant_id, 0):
                msg = f"Only {available.get(line.variant_id, 0)} available."
                problems.append(
                    _error(CartErrorCode.INSUFFICIENT_STOCK, msg, "lines", n, "quantity")
                )
        if len(order) > MAX_LINES:
            problems.append(_error(CartErrorCode.INVALID, f"At most {MAX_LINES} lines.", "lines"))
        if problems:
            return problems
        return current.with_lines([merged[v] for v in order], now=now_iso())

    return change


async def _available(ctx: Context, cart: CartRecord, variant_ids: Sequence[str]) -> dict[str, int]:
    """Units each variant can still sell on the cart's channel (and store, for POS)."""
    refs = await ctx.loaders.variant_ref_by_id.load_many(list(variant_ids))
    stocks = await ctx.loaders.stock_by_product.load_many([r.product_id for r in refs if r])
    if cart.location_id is not None:
        serving: frozenset[str] = frozenset({cart.location_id})
    else:
        serving = (await location_index(ctx)).serving(cart.channel)
    out: dict[str, int] = {}
    for ref, stock in zip([r for r in refs if r], stocks, strict=True):
        levels = stock.levels(ref.variant_id) if stock else {}
        out[ref.variant_id] = sum(lv.available for loc, lv in levels.items() if loc in serving)
    return out


def unit_price(
    cart: CartRecord, line: CartLineRecord, prices: Mapping[str, ProductPricesRecord | None]
) -> MoneyRecord:
    """The line's current list price on the cart's channel (zero if no longer priced)."""
    product_prices = prices.get(line.product_id)
    price = product_prices.price(line.variant_id, cart.channel) if product_prices else None
    return price.price if price else MoneyRecord.zero(cart.currency_code)


async def totals(
    ctx: Context, cart: CartRecord, prices: Mapping[str, ProductPricesRecord | None]
) -> CartTotals:
    """Subtotal at current prices, and the tax on it; raises the Tax source's error."""
    lines = [
        (ln.id, unit_price(cart, ln, prices).times(ln.quantity), ln.quantity) for ln in cart.lines
    ]
    taxed = await tax.calculate(ctx, cart, lines)
    return CartTotals(subtotal=taxed.net, tax=taxed.tax, total=taxed.gross)


async def line_prices(ctx: Context, cart: CartRecord) -> dict[str, ProductPricesRecord | None]:
    """Prices of every product in the cart for its customer, in one batch (contract prices
    from the ERP for a contract customer: raises the ERP's error when it cannot answer)."""
    ids = list(dict.fromkeys(ln.product_id for ln in cart.lines))
    found = await prices_for(ctx, ids, customer_id=cart.customer_id)
    return dict(zip(ids, found, strict=True))
