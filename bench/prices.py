"""The benchmark's dollars, from the prices of `gcevents.ops.prices` (the one place they live, with their date).

US East (N. Virginia), on-demand, no free tier, read 2026-11-27 (re-check before quoting a bill):

- Lambda, Arm (the template's default `Architecture`, arm64): $0.0000133334 per GB-second (first 7.5 billion GB-s a
  month) and $0.20 per million requests — https://aws.amazon.com/lambda/pricing/
- DynamoDB on-demand, Standard table class: $0.625 per million write request units and $0.125 per million read
  request units (the prices since the 50 % cut of 2024-11-01) — https://aws.amazon.com/dynamodb/pricing/on-demand/
- SQS standard queue: $0.40 per million requests (each 64 KB of a payload is one request; first 100 billion a
  month) — https://aws.amazon.com/sqs/pricing/

What is priced, per design (`cost_per_million`): Lambda duration at the template's MemorySize (512 MB) for the
measured wall time of each invocation, Lambda requests, DynamoDB units as the bench's meter computed them, and SQS
requests. EventBridge's partner-event ingestion ($1.00 per million events) is the same for every design and is left
out, as are CloudWatch Logs and data transfer."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gcevents.ops.prices import usd

PRICES_READ = "2026-11-27"  # the Lambda, DynamoDB and SQS prices below (gcevents.ops.prices: the table)
LAMBDA_ARM_GB_SECOND = usd("lambda_gb_second")
LAMBDA_REQUEST = usd("lambda_request")
DYNAMODB_WRITE_UNIT = usd("dynamodb_write_unit")
DYNAMODB_READ_UNIT = usd("dynamodb_read_unit")
SQS_REQUEST = usd("sqs_request")
TEMPLATE_MEMORY_MB = 512  # template.yaml MemorySize default
SQS_MESSAGES_PER_CALL = 10  # ReceiveMessage / DeleteMessageBatch / SendMessageBatch: at most 10 messages a call


@dataclass(frozen=True, slots=True)
class Bill:
    """Dollars per million input events, by line."""

    lambda_duration: float
    lambda_requests: float
    dynamodb: float
    sqs: float

    @property
    def total(self) -> float:
        return self.lambda_duration + self.lambda_requests + self.dynamodb + self.sqs


def sqs_requests_for_queue(events: int, batch_sizes: list[int]) -> int:
    """What an SQS queue between EventBridge and the function costs in requests: one SendMessage per event from the
    rule target, and per delivered batch the event source mapping's ReceiveMessage and DeleteMessageBatch calls (10
    messages each). Empty long polls are left out (they depend on idle time, not on the work)."""
    calls = sum(2 * math.ceil(size / SQS_MESSAGES_PER_CALL) for size in batch_sizes)
    return events + calls


def cost_per_million(
    *,
    events: int,
    invocation_seconds: list[float],
    write_units: float,
    read_units: float,
    sqs_requests: int,
    memory_mb: int = TEMPLATE_MEMORY_MB,
) -> Bill:
    scale = 1e6 / events
    gb_seconds = memory_mb / 1024 * sum(math.ceil(s * 1000) / 1000 for s in invocation_seconds)  # billed per ms
    return Bill(
        lambda_duration=gb_seconds * LAMBDA_ARM_GB_SECOND * scale,
        lambda_requests=len(invocation_seconds) * LAMBDA_REQUEST * scale,
        dynamodb=(write_units * DYNAMODB_WRITE_UNIT + read_units * DYNAMODB_READ_UNIT) * scale,
        sqs=sqs_requests * SQS_REQUEST * scale,
    )
