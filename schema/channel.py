"""The selling channel: pricing, stock and tax context, passed as an argument on root fields.

`strawberry.enum` registers the data layer's enum in place, so both layers share one class.
"""

import strawberry

from datasources.records import Channel

strawberry.enum(Channel, description="Where a sale happens: web store, mobile app, or store POS.")

__all__ = ["Channel"]
