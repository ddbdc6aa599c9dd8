"""Prices as a customer pays them: list prices (DynamoDB), overridden by the customer's
contract prices (ERP price conditions) where the ERP has any.

Contract prices apply on every channel where the variant has a list price (a variant not sold
on a channel is still not sold there), only in the list price's currency (a cart sums in one
currency), and the list price becomes the compare-at price, so a head can show the saving.
When the ERP cannot answer, a contract customer's prices are unknown, not the list price: the
caller gets the source's error and shows no price rather than a wrong one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from datasources.catalog import ProductRecord
from datasources.pricing import ContractPriceRecord, PriceRecord, ProductPricesRecord
from resolvers.context import Context

log = logging.getLogger(__name__)


async def prices_for(
    ctx: Context,
    product_ids: Sequence[str],
    *,
    customer_id: str | None,
    products: Sequence[ProductRecord | None] | None = None,
) -> list[ProductPricesRecord | None]:
    """Prices of `product_ids` for `customer_id` (None: list prices). Raises the ERP's
    SourceError when a customer's contract prices cannot be read.

    `products` (same order) saves a read when the caller already has the product records;
    they are needed only to map the ERP's SKUs onto variants, and only if a contract exists.
    """
    if customer_id is None or ctx.sources.contract_prices is None or not product_ids:
        return list(await ctx.loaders.prices_by_product.load_many(list(product_ids)))
    # Side by side: a slow ERP then costs its timeout, not its timeout plus DynamoDB's read.
    listed, contracts = await asyncio.gather(
        ctx.loaders.prices_by_product.load_many(list(product_ids)),
        ctx.loaders.contract_prices_by_product.load_many(
            [(customer_id, pid) for pid in product_ids]
        ),
    )
    lists = list(listed)
    if not any(contracts):
        return lists
    if products is None:
        products = await ctx.loaders.product_by_id.load_many(list(product_ids))
    return [
        _with_contract(listed, contract, product) if contract and product else listed
        for listed, contract, product in zip(lists, contracts, products, strict=True)
    ]


def _with_contract(
    listed: ProductPricesRecord | None,
    contract: Mapping[str, ContractPriceRecord],
    product: ProductRecord,
) -> ProductPricesRecord | None:
    if listed is None:
        return None
    by_variant = dict(listed.by_variant)
    for variant in product.variants:
        agreed = contract.get(variant.sku)
        channels = listed.by_variant.get(variant.id)
        if agreed is None or not channels:
            continue
        overridden = {}
        for channel, price in channels.items():
            if agreed.price.currency_code != price.price.currency_code:
                log.warning(
                    "contract %s prices %s in %s, its list price is in %s: list price kept",
                    agreed.condition_id,
                    variant.sku,
                    agreed.price.currency_code,
                    price.price.currency_code,
                )
                overridden[channel] = price
                continue
            overridden[channel] = PriceRecord(agreed.price, compare_at=price.price, contract=True)
        by_variant[variant.id] = overridden
    return ProductPricesRecord(listed.product_id, by_variant)
