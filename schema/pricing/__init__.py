"""GraphQL shape of the pricing domain."""
