"""GraphQL shape of the customer domain."""
