"""Domain events: the transactional outbox on DynamoDB, the relay that publishes it to the
EventBridge bus, and the SQS consumer of events that start outside the graph (docs/events.md).
"""
