"""DynamoDB: the system of record for catalog, prices, stock reservations, carts, orders."""
