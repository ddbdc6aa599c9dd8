"""GraphQL shape of the inventory domain."""
