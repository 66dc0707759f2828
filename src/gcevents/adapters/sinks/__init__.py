"""Sink adapters (webhook, EventBridge, Firehose): each implements `gcevents.ports.Sink`. The once-per-record
discipline around them is `gcevents.core.outputs`; a sink only delivers and says what it could not."""
