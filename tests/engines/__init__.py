"""Start real engines (DynamoDB Local, moto server) for tests; fixtures are wired elsewhere."""
