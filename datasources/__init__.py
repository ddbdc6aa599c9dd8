"""Data sources: I/O only. Nothing here knows GraphQL, Starlette or resolvers."""
