"""Locations, stock per location, availability per channel."""

from typing import Self

import strawberry

from datasources.inventory import LocationKind, LocationRecord
from resolvers import inventory
from resolvers.inventory import Availability as AvailabilityRecord
from resolvers.inventory import StockAtLocation
from schema.access import PUBLIC
from schema.channel import Channel
from schema.info import Info

strawberry.enum(LocationKind, description="A warehouse ships; a store also sells at its POS.")


@strawberry.type(description="A warehouse or a store.", directives=PUBLIC)
class Location:
    id: strawberry.ID
    name: str
    kind: LocationKind
    country: str
    channels: list[Channel]

    @classmethod
    def of(cls, r: LocationRecord) -> Self:
        return cls(
            id=strawberry.ID(r.id),
            name=r.name,
            kind=r.kind,
            country=r.country,
            channels=list(r.channels),
        )


@strawberry.type(description="Stock of one variant at one location.", directives=PUBLIC)
class Stock:
    location_id: strawberry.ID
    quantity: int
    reserved: int
    available: int

    @classmethod
    def of(cls, s: StockAtLocation) -> Self:
        return cls(
            location_id=strawberry.ID(s.location_id),
            quantity=s.level.quantity,
            reserved=s.level.reserved,
            available=s.level.available,
        )

    @strawberry.field
    async def location(self, info: Info) -> Location | None:
        record = await inventory.location(info.context, str(self.location_id))
        return Location.of(record) if record else None


@strawberry.type(
    description="What a channel (or one store) can still sell of a variant.", directives=PUBLIC
)
class Availability:
    channel: Channel
    location_id: strawberry.ID | None
    quantity_available: int
    in_stock: bool

    @classmethod
    def of(cls, a: AvailabilityRecord) -> Self:
        return cls(
            channel=a.channel,
            location_id=strawberry.ID(a.location_id) if a.location_id else None,
            quantity_available=a.quantity_available,
            in_stock=a.in_stock,
        )
