"""GraphQL shape of the cart domain."""
