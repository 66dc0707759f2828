"""The monthly AWS bill of a planned load, line by line, at the prices of `gcevents.ops.prices`.

A month is 730 hours at the steady rate (a spike's events are a rounding error beside it). What is measured rather
than priced from a rule comes from `bench/results` (the numbers below name their file):
- DynamoDB units per event, by table: `units-by-table.json` (gcevents at batch 100, 10 % re-sends: per unique
  event; priced here per arriving event, which slightly overstates a load with re-sends);
- gcevents' log bytes per event, events per conversation and the derived records a data lake receives:
  `cost-inputs.json` (`python -m bench.cost_inputs`).

Left out: data transfer, the queues' empty long polls when idle, retries, CloudWatch metrics and alarms (a few
dollars a month whatever the load), log storage beyond ingestion, and the free tiers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gcevents.ops.prices import PRICES_AS_OF, usd

HOURS_PER_MONTH = 730
# bench/results/units-by-table.json (2026-12-07): DynamoDB units per unique event, by table.
UNITS_PER_EVENT = {"idempotency": (0.400, 0.107), "state": (0.641, 0.691)}  # (write units, read units)
# bench/results/cost-inputs.json (2026-12-07): at INFO, gcevents' JSON lines and the EMF document of each batch.
LOG_BYTES_PER_EVENT = 15.0
# Lambda's own START and REPORT lines per invocation in its JSON log format (the size of AWS's documented examples).
PLATFORM_LOG_BYTES_PER_INVOCATION = 700
LAKE_RECORDS_PER_EVENT = 0.1  # one derived record per conversation, 10 events per conversation
LAKE_RECORD_BYTES = 1802.0
FIREHOSE_ROUNDING_BYTES = 5 * 1024
FIREHOSE_BUFFER_SECONDS = 60  # template.yaml DataLakeStream BufferingHints.IntervalInSeconds
SQS_MESSAGES_PER_CALL = 10
GB = 1024**3


@dataclass(frozen=True, slots=True)
class CostLine:
    item: str
    quantity: float  # per month
    unit: str
    usd: float  # per month
    why: str  # the arithmetic


@dataclass(frozen=True, slots=True)
class MonthlyBill:
    events_per_month: float
    lines: tuple[CostLine, ...]
    prices_as_of: str = PRICES_AS_OF

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def per_million_events(self) -> float:
        return self.total / self.events_per_month * 1e6 if self.events_per_month else 0.0


def monthly_bill(
    *,
    rate: float,
    batch_size: int,
    window: int,
    memory_mb: int,
    batch_seconds: Callable[[int], float],
    monthly_pollers: float,
    lake: bool,
) -> MonthlyBill:
    """`batch_seconds(n)`: how long a batch of n events runs (the planner's model). Batches hold a window's worth of
    the steady rate, at most `batch_size`: at a low rate they close on the window, smaller and more numerous."""
    events = rate * HOURS_PER_MONTH * 3600
    filled = max(1, min(batch_size, math.floor(rate * max(window, 1))))
    invocations = events / filled
    lines = [
        _line("EventBridge partner events", events, "events", "eventbridge_partner_event", f"{rate:g}/s x 730 h"),
        *_queue_and_function(events, filled, batch_seconds(filled), memory_mb),
        *_dynamodb(events),
    ]
    if monthly_pollers:
        why = "MinimumPollers x 730 h x the EPU-hour price, always on"
        lines.append(CostLine("provisioned pollers (MinimumPollers)", HOURS_PER_MONTH, "h", monthly_pollers, why))
    log_bytes = events * LOG_BYTES_PER_EVENT + invocations * PLATFORM_LOG_BYTES_PER_INVOCATION
    why = (
        f"{LOG_BYTES_PER_EVENT:g} B per event (measured) + {PLATFORM_LOG_BYTES_PER_INVOCATION} B of Lambda's"
        " START/REPORT per invocation"
    )
    lines.append(_line("CloudWatch Logs ingestion", log_bytes / GB, "GB", "logs_ingested_gb", why))
    if lake:
        lines += _lake(events)
    return MonthlyBill(events, tuple(lines))


def _queue_and_function(events: float, filled: int, seconds: float, memory_mb: int) -> list[CostLine]:
    invocations = events / filled
    calls = math.ceil(filled / SQS_MESSAGES_PER_CALL)
    sqs = events * (1 + 2 * calls / filled)
    return [
        _line(
            "SQS requests",
            sqs,
            "requests",
            "sqs_request",
            f"per event 1 SendMessage + (Receive + DeleteMessageBatch) x ceil({filled}/10) / {filled}",
        ),
        _line("Lambda requests", invocations, "invocations", "lambda_request", f"events / {filled} per batch"),
        _line(
            "Lambda duration",
            invocations * seconds * memory_mb / 1024,
            "GB-s",
            "lambda_gb_second",
            f"invocations x {seconds:.3f} s x {memory_mb} MB / 1024",
        ),
    ]


def _dynamodb(events: float) -> list[CostLine]:
    lines = []
    for table, (writes, reads) in UNITS_PER_EVENT.items():
        why = "units per event (measured)"
        lines.append(
            _line(f"DynamoDB {table} writes", events * writes, "WRU", "dynamodb_write_unit", f"{writes} write {why}")
        )
        lines.append(
            _line(f"DynamoDB {table} reads", events * reads, "RRU", "dynamodb_read_unit", f"{reads} read {why}")
        )
    return lines


def _lake(events: float) -> list[CostLine]:
    records = events * LAKE_RECORDS_PER_EVENT
    billed = math.ceil(LAKE_RECORD_BYTES / FIREHOSE_ROUNDING_BYTES) * FIREHOSE_ROUNDING_BYTES
    objects = HOURS_PER_MONTH * 3600 / FIREHOSE_BUFFER_SECONDS
    return [
        _line(
            "Firehose ingestion (data lake)",
            records * billed / GB,
            "GB",
            "firehose_ingested_gb",
            f"{LAKE_RECORDS_PER_EVENT:g} records per event, {LAKE_RECORD_BYTES:g} B each billed as {billed} B",
        ),
        _line(
            "S3 PUT (data lake)",
            objects,
            "objects",
            "s3_put_request",
            f"one object per {FIREHOSE_BUFFER_SECONDS} s buffer",
        ),
        _line(
            "S3 storage (data lake, the month's records)",
            records * LAKE_RECORD_BYTES / GB,
            "GB-month",
            "s3_storage_gb_month",
            "uncompressed size: GZIP makes it smaller",
        ),
    ]


def _line(item: str, quantity: float, unit: str, price: str, why: str) -> CostLine:
    return CostLine(item, quantity, unit, quantity * usd(price), why)
