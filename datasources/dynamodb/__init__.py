"""DynamoDB: the system of record for catalog, prices, stock reservations, carts, orders."""

# The name every error and metric of this source carries; here rather than in client.py so
# that naming the source does not load its SDK.
SOURCE = "DynamoDB"
