"""AWS Lambda entry point: `gcevents.handler`.

SQS input -> `{"batchItemFailures": [...]}` (records to retry; the rest are acknowledged).
A direct EventBridge event or a list of events (Pipes, bus batching) -> raises if anything must be retried,
so Lambda's own async retry runs it again (completed events are then skipped by idempotency)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from gcevents.config import Config, xray_trace_header
from gcevents.core.events import RawRecord, is_sqs_batch, split_records
from gcevents.core.pipeline import BatchReport, Outcome
from gcevents.core.settlement import by_message, near_max_receive
from gcevents.entrypoints.runtime import Runtime, build_runtime
from gcevents.errors import TransientError
from gcevents.observability import configure_logging, invocation_context, lambda_fields
from gcevents.retry import redelivery_delay

log = logging.getLogger("gcevents")

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()
_cold_start = True  # the container's first invocation (Powertools' `cold_start`)
DEFAULT_DEADLINE_S = 900.0  # no context (local invoke): Lambda's maximum timeout


class RetryBatchError(TransientError):
    """Raised for non-SQS input when some events must be retried: Lambda re-invokes with the same event."""


def get_runtime() -> Runtime:
    """Built once per container from the environment; warm invocations reuse clients, pools and tokens."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                config = Config.from_env()
                configure_logging(config.log_level, replace_handlers=True, service=config.service_name)
                _runtime = build_runtime(config)
    return _runtime


def reset_runtime() -> None:
    """For tests: forget the container state so the next invocation re-reads the environment (and is cold)."""
    global _runtime, _cold_start
    _runtime, _cold_start = None, True


def handler(event: Any, context: Any) -> dict[str, Any]:
    runtime = get_runtime()
    return process_invocation(runtime, event, context)


def process_invocation(runtime: Runtime, event: Any, context: Any) -> dict[str, Any]:
    """One invocation; each of its log lines carries its request id and trace id."""
    global _cold_start
    fields = lambda_fields(context, xray_trace_header(), cold_start=_cold_start)
    _cold_start = False
    with invocation_context(fields):
        return _process(runtime, event, context)


def _process(runtime: Runtime, event: Any, context: Any) -> dict[str, Any]:
    deadline = _deadline(context)
    if isinstance(event, dict) and "gcevents" in event:  # EventBridge Scheduler's payload, not events
        from gcevents.entrypoints.scheduled import handle_scheduled, is_scheduled

        if is_scheduled(event):
            return handle_scheduled(runtime, event, deadline)
    records = split_records(event)
    before = runtime.counters()
    # No `lease`: claims are leased until the invocation deadline and never renewed. Lambda cannot run a handler
    # past its deadline, and the queue's visibility timeout is at least 6 x the function timeout, so a record that
    # comes back after a timeout or a crash always finds its old lease over (the worker, whose batch may outlive
    # one visibility timeout, renews a shorter lease instead: docs/operations.md).
    report = runtime.pipeline.run(records, deadline)
    extra = {k: v - before.get(k, 0.0) for k, v in runtime.counters().items()}
    runtime.metrics.emit_batch(report, extra)
    _log_report(report)
    if is_sqs_batch(event):
        if any(r.record.message_id is None for r in report.retries()):
            # A record we cannot name cannot be retried on its own: fail the batch rather than lose it.
            raise RetryBatchError("a record without messageId needs a retry; failing the whole batch")
        requeued = _requeue(runtime, report)
        _delay_retries(runtime, report, skip=requeued)
        failures = [item for item in report.batch_item_failures() if item["itemIdentifier"] not in requeued]
        return {"batchItemFailures": failures}
    retries = report.retries()
    if retries:
        raise RetryBatchError(
            f"{len(retries)} of {len(report.results)} events need a retry: {retries[0].reason}",
            retry_after=max((r.retry_after or 0.0) for r in retries) or None,
        )
    return report.summary()


def _deadline(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return time.time() + float(remaining()) / 1000.0
    return time.time() + DEFAULT_DEADLINE_S


def _requeue(runtime: Runtime, report: BatchReport) -> set[str]:
    """Records that spent no attempt go back as new messages delayed by their hint (plus jitter), and are left out
    of batchItemFailures so the mapping deletes the originals: rate-limited ones (a 429 storm never walks a record to
    the DLQ), and unattempted ones (the deadline came first, another consumer holds the key) once one more receive
    could dead-letter them. The ids returned are the records SQS took back; any other falls back to the usual
    retry."""
    candidates = [
        r
        for r in by_message(report.results)  # one copy per message, with its freshest receipt
        if r.outcome is Outcome.RETRY and r.record.message_id and (r.throttled or r.unattempted)
    ]
    if not candidates:  # the usual case: no SQS client, no queue attributes
        return set()
    try:
        requeuer = runtime.requeuer()
        wanted = [
            (r.record, redelivery_delay(1.0 if r.retry_after is None else r.retry_after, r.record.receive_count))
            for r in candidates
            if r.throttled or near_max_receive(r.record, requeuer.receive_limit(r.record))
        ]
        requeued = requeuer.requeue(wanted) if wanted else set()
    except Exception:  # best effort: the records are then retried (and counted) like any other
        log.warning("could not requeue records that spent no attempt", exc_info=True)
        return set()
    unattempted = sum(1 for r in report.results if r.unattempted and r.record.message_id in requeued)
    if unattempted:
        log.info("unattempted records near maxReceiveCount requeued", extra={"records": unattempted})
    return requeued


def _delay_retries(runtime: Runtime, report: BatchReport, *, skip: set[str]) -> None:
    delays: list[tuple[RawRecord, float]] = []
    for result in by_message(report.results):  # a message delivered twice is delayed once, by its latest receipt
        if result.outcome is not Outcome.RETRY or result.record.message_id in skip:
            continue
        after = result.retry_after
        if after:  # without a hint the record returns at the queue's visibility timeout
            delays.append((result.record, redelivery_delay(after, result.record.receive_count)))
    if delays:
        runtime.requeuer().delay(delays)


def _log_report(report: BatchReport) -> None:
    summary = report.summary()
    log.info("batch done", extra=summary)  # the request id is on every line (observability.invocation_context)
    for result in report.results:
        if result.outcome in (Outcome.RETRY, Outcome.DEAD_LETTERED):
            event = result.event
            log.warning(
                result.outcome.value,
                extra={
                    "reason": result.reason,
                    "message_id": result.record.message_id,
                    "conversation_id": event.conversation_id if event else None,
                    "topic": event.topic if event else None,
                },
            )
