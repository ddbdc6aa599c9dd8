"""GraphQL shape of the recommendations domain."""
