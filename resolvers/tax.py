"""Tax on a cart or an order, from the tax source (Stripe Tax, or the sandbox rates).

Where a sale is taxed: a store's own country for a POS cart (the sale happens there), else
the cart's country with the customer's matching address when there is one (a postal code
narrows US sales tax to the right jurisdiction), else the settings' default country.
"""

from __future__ import annotations

from collections.abc import Sequence

from datasources.cart import CartRecord
from datasources.records import MoneyRecord
from datasources.tax import TaxAddress, TaxLine, TaxRecord, TaxRequest
from resolvers.context import Context


async def address_of(ctx: Context, cart: CartRecord) -> TaxAddress:
    if cart.location_id is not None:
        store = await ctx.loaders.location_by_id.load(cart.location_id)
        if store is not None:
            return TaxAddress(country=store.country)
    customer = await ctx.loaders.customer_by_id.load(cart.customer_id) if cart.customer_id else None
    country = cart.country or (
        customer.addresses[0].country if customer and customer.addresses else None
    )
    country = (country or ctx.settings.tax_default_country).upper()
    home = next((a for a in customer.addresses if a.country == country), None) if customer else None
    if home is None:
        return TaxAddress(country=country)
    return TaxAddress(
        country=country, postal_code=home.postal_code, city=home.city, line1=home.street
    )


async def calculate(
    ctx: Context,
    cart: CartRecord,
    lines: Sequence[tuple[str, MoneyRecord, int]],
    *,
    fresh: bool = False,
) -> TaxRecord:
    """Tax on (reference, net line total, quantity) lines; raises the Tax source's error.

    An empty cart is not sent: its tax is zero by definition."""
    net = MoneyRecord.zero(cart.currency_code)
    for _, amount, _ in lines:
        net += amount
    if not lines:
        return TaxRecord(net=net, tax=MoneyRecord.zero(cart.currency_code), by_line={})
    request = TaxRequest(
        currency_code=cart.currency_code,
        lines=tuple(TaxLine(ref, amount, qty) for ref, amount, qty in lines),
        address=await address_of(ctx, cart),
    )
    return await ctx.sources.tax.calculate(request, fresh=fresh)
