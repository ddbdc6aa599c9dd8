"""Customers on DynamoDB: one item per customer, addresses embedded."""

from __future__ import annotations

from collections.abc import Sequence

from datasources.customer import AddressRecord, CustomerRecord
from datasources.dynamodb.client import DynamoClient, Item
from datasources.dynamodb.tables import CUSTOMERS


def customer_item(c: CustomerRecord) -> Item:
    return {
        "pk": f"CUSTOMER#{c.id}",
        "sk": "CUSTOMER",
        "id": c.id,
        "email": c.email,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "phone": c.phone,
        "createdAt": c.created_at,
        "addresses": [
            {
                "firstName": a.first_name,
                "lastName": a.last_name,
                "street": a.street,
                "city": a.city,
                "postalCode": a.postal_code,
                "country": a.country,
                "phone": a.phone,
            }
            for a in c.addresses
        ],
    }


def customer_from_item(item: Item) -> CustomerRecord:
    return CustomerRecord(
        id=item["id"],
        email=item["email"],
        first_name=item["firstName"],
        last_name=item["lastName"],
        phone=item.get("phone"),
        created_at=item["createdAt"],
        addresses=tuple(
            AddressRecord(
                first_name=a["firstName"],
                last_name=a["lastName"],
                street=a["street"],
                city=a["city"],
                postal_code=a["postalCode"],
                country=a["country"],
                phone=a.get("phone"),
            )
            for a in item.get("addresses", [])
        ),
    )


class DynamoCustomerSource:
    def __init__(self, dynamo: DynamoClient) -> None:
        self._dynamo = dynamo
        self._table = dynamo.table(CUSTOMERS.name)

    async def customers_by_id(self, ids: Sequence[str]) -> Sequence[CustomerRecord | None]:
        items = await self._dynamo.get_many(
            self._table, [{"pk": f"CUSTOMER#{i}", "sk": "CUSTOMER"} for i in ids]
        )
        return [customer_from_item(i) if i else None for i in items]
