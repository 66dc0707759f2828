"""DynamoDB adapters: the idempotency store and the conversation state store (boto3 clients are injected)."""

from gcevents.adapters.dynamodb.idempotency import DynamoDbIdempotencyStore, create_idempotency_table
from gcevents.adapters.dynamodb.state import DynamoDbStateStore, create_state_table

__all__ = ["DynamoDbIdempotencyStore", "DynamoDbStateStore", "create_idempotency_table", "create_state_table"]
