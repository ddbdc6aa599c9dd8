"""Live stock per SKU and location from the ERP's material stock (`LiveStockSource`).

The ERP keeps stock per material (our SKU), plant (our location id), storage location and
stock type. Only unrestricted-use stock (type '01') can be sold; quality inspection and
blocked stock are left out in the `$filter`, and storage locations are summed per plant here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from datasources.erp.odata import SOURCE, ODataClient, all_of, chunks, eq, is_in, read_chunks
from datasources.errors import SourceUnavailableError
from datasources.inventory import LiveStockRecord

ENTITY_SET = "MaterialStock"
UNRESTRICTED_USE = "01"
_SELECT = ("Product", "Material", "Plant", "MatlWrhsStkQtyInMatlBaseUnit")


class ErpLiveStockSource:
    """`client` or `service_root` None: the ERP is not configured, every call is Unavailable."""

    def __init__(
        self, client: ODataClient | None, service_root: str | None, *, max_keys: int = 100
    ) -> None:
        self._client = client
        self._root = service_root
        self._max_keys = max_keys

    async def live_stock_by_product(
        self, product_ids: Sequence[str]
    ) -> Sequence[LiveStockRecord | None]:
        if not product_ids:
            return []
        if self._client is None or self._root is None:
            raise SourceUnavailableError(SOURCE, "The ERP is not configured (CG_ERP_STOCK_URL).")
        filters = [
            all_of(is_in("Product", keys), eq("InventoryStockType", UNRESTRICTED_USE))
            for keys in chunks(product_ids, self._max_keys)
        ]
        rows = await read_chunks(
            self._client, self._root, ENTITY_SET, filters=filters, select=_SELECT
        )
        totals: dict[str, dict[str, dict[str, Decimal]]] = {}
        for row in rows:
            by_plant = totals.setdefault(row["Product"], {}).setdefault(row["Material"], {})
            plant = row["Plant"]
            by_plant[plant] = by_plant.get(plant, Decimal(0)) + Decimal(
                row["MatlWrhsStkQtyInMatlBaseUnit"]
            )
        records = {
            product: LiveStockRecord(
                product_id=product,
                # Pieces: a fraction of a base unit (a broken case) cannot be sold as one.
                by_sku={
                    sku: {plant: int(qty) for plant, qty in plants.items()}
                    for sku, plants in by_sku.items()
                },
            )
            for product, by_sku in totals.items()
        }
        return [records.get(pid) for pid in product_ids]
