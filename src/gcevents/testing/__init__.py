"""The test kit, for your handlers' tests and ours: events as Genesys sends them, contexts, and the real pipeline
on in-memory stores.

    from gcevents.testing import context, event, parse, resend, run, sqs_batch

- `event(kind, conversation_id, **fields)`: a Genesys Cloud event in its exact EventBridge envelope, for every
  conversation kind (`KINDS`) with its usual fields; `resend(e)`: the same event under a new envelope id;
  `sqs_record` / `sqs_batch`: what the SQS event source mapping hands Lambda; `parse(e)`: the `GenesysEvent` a
  handler receives (`gcevents.testing.events`).
- `context(event, enrichment=...)`: the `HandlerContext` for calling a handler directly; `LambdaContext(timeout_s)`:
  the context Lambda passes a function, for calling `gcevents.handler` directly.
- `run(handlers, events, ...)`: the events through the real pipeline (duplicates folded, re-sends recognised,
  claims, enrichment, your handlers on the thread pool, the built-in state, dead letters) on memory stores; the
  `RunResult` has each record's outcome, `calls[handler_name]`, the dead letters and the state store
  (`gcevents.testing.kit`).

None of these imports boto3, httpx or moto. The rest of the kit is for gcevents' own tests, benchmarks and demo,
and is never imported by the Lambda path nor shipped in the Lambda artifact:
- `gcevents.testing.fakes`: memory idempotency/state stores, dead letters, enricher, a fake clock
- `gcevents.testing.genesys`: the Genesys Cloud API simulator (a real HTTP server on 127.0.0.1)
- `gcevents.testing.workload`: realistic conversation lifecycles, spikes with re-sends
- `gcevents.testing.queue`: one queue with SQS semantics: worker event source, Lambda event source mapping
  batches with partial-failure settlement, and the boto3 calls of the requeuer
- `gcevents.testing.sinks`: a recording sink and a webhook receiver for the outputs
- `gcevents.testing.moto`: moto's server with requests applied one at a time (needs `moto[server]`)
"""

from __future__ import annotations

from gcevents.testing.events import (
    ALLOWED_PREFIX,
    BASE_MS,
    KINDS,
    SOURCE,
    event,
    parse,
    resend,
    sqs_batch,
    sqs_record,
)
from gcevents.testing.kit import Call, LambdaContext, RecordOutcome, RunResult, context, run

__all__ = [
    "ALLOWED_PREFIX",
    "BASE_MS",
    "KINDS",
    "SOURCE",
    "Call",
    "LambdaContext",
    "RecordOutcome",
    "RunResult",
    "context",
    "event",
    "parse",
    "resend",
    "run",
    "sqs_batch",
    "sqs_record",
]
