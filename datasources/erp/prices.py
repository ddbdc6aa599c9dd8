"""Customer contract prices from the ERP's price conditions (`ContractPriceSource`).

Conditions are selected by our customer id, which the ERP keeps in its customer master's
ExternalReference (reached through the `to_Customer` navigation, so no lookup of the ERP's
customer number is needed first), and by today's date: validity is evaluated in the
`$filter` (`ValidFrom le today and ValidTo ge today`), not here, so expired and future
conditions, which the ERP keeps for years, never travel. "Today" is the UTC date unless a
`today` clock is injected (the ERP's dates are calendar dates without a zone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from datasources.erp.odata import (
    SOURCE,
    ODataClient,
    all_of,
    chunks,
    date_literal,
    eq,
    is_in,
    read_chunks,
)
from datasources.errors import SourceUnavailableError
from datasources.pricing import ContractPriceRecord
from datasources.records import MoneyRecord

ENTITY_SET = "ConditionRecord"
CENTS = Decimal("0.01")
_SELECT = ("ConditionRecord", "Product", "Material", "Amount", "Currency", "ValidFrom")


def _cents(amount: object) -> Decimal:
    # Edm.Decimal(15,2) arrives as a JSON number: 10.00 is sent as 10.
    return Decimal(str(amount)).quantize(CENTS)


def utc_today() -> date:
    return datetime.now(UTC).date()


class ErpContractPriceSource:
    """`client` or `service_root` None: the ERP is not configured, every call is Unavailable."""

    def __init__(
        self,
        client: ODataClient | None,
        service_root: str | None,
        *,
        max_keys: int = 100,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self._client = client
        self._root = service_root
        self._max_keys = max_keys
        self._today = today

    async def contract_prices(
        self, customer_id: str, product_ids: Sequence[str]
    ) -> Sequence[Mapping[str, ContractPriceRecord]]:
        if not product_ids:
            return []
        if self._client is None or self._root is None:
            raise SourceUnavailableError(SOURCE, "The ERP is not configured (CG_ERP_PRICING_URL).")
        today = date_literal(self._today())
        filters = [
            all_of(
                eq("to_Customer/ExternalReference", customer_id),
                is_in("Product", keys),
                f"ValidFrom le {today}",
                f"ValidTo ge {today}",
            )
            for keys in chunks(product_ids, self._max_keys)
        ]
        rows = await read_chunks(
            self._client, self._root, ENTITY_SET, filters=filters, select=_SELECT
        )
        # Validity periods of one customer and material do not overlap in the ERP; should
        # two both cover today, the one that started last is the one in force.
        rows.sort(key=lambda row: (str(row["ValidFrom"]), str(row["ConditionRecord"])))
        by_product: dict[str, dict[str, ContractPriceRecord]] = {}
        for row in rows:
            by_product.setdefault(row["Product"], {})[row["Material"]] = ContractPriceRecord(
                sku=row["Material"],
                price=MoneyRecord(_cents(row["Amount"]), str(row["Currency"])),
                condition_id=str(row["ConditionRecord"]),
            )
        return [by_product.get(pid, {}) for pid in product_ids]
