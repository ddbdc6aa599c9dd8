"""GraphQL shape of the catalog domain."""
