"""Recommendation kinds. The fields themselves sit on the types they recommend for:
`Product.recommendations`, `Customer.recommendations`, `Cart.recommendations` (all `[Product!]`,
null with errorType `Neptune:<Reason>` when the graph cannot answer).

`strawberry.enum` registers the data layer's enum in place, so both layers share one class.
"""

import strawberry

from datasources.recommendations import RecommendationKind

strawberry.enum(
    RecommendationKind,
    description="ALSO_BOUGHT: what the buyers of a product also bought, most buyers first. "
    "SIMILAR: products sharing its categories and brand, most shared first.",
)

__all__ = ["RecommendationKind"]
