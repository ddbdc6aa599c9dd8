"""GraphQL shape of the order domain."""
