"""SQS adapters: dead letters (sink and store), the worker's event source, the requeuer, queue setup."""

from gcevents.adapters.sqs.common import create_queues
from gcevents.adapters.sqs.dead_letters import SqsDeadLetterSink
from gcevents.adapters.sqs.requeuer import SqsRequeuer
from gcevents.adapters.sqs.source import SqsEventSource

__all__ = ["SqsDeadLetterSink", "SqsEventSource", "SqsRequeuer", "create_queues"]
