"""Coverage-guided fuzzing of envelope handling with atheris (run by hand, not in CI).

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/fuzz_envelopes.py -atheris_runs=200000 [corpus_dir]

Without a corpus directory, a temporary one is seeded from fuzz/seeds/ (valid envelopes of every shape), so the
checked-in seeds are never overwritten by the fuzzer.

Each input is read as bytes in three ways — an SQS body (text), a raw bytes payload, and, when it parses as JSON,
a whole Lambda event — and goes through `Pipeline.run` on memory fakes (state projection included). Any exception
escaping, a record without exactly one outcome, or an effect running twice is a finding (atheris stops and writes
the crashing input to crash-*).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports():
    from gcevents.core.events import GenesysEvent, RawRecord, split_records
    from gcevents.core.idempotency import Idempotency
    from gcevents.core.pipeline import Outcome, Pipeline, PipelineSettings
    from gcevents.core.projection import StateProjection
    from gcevents.core.router import HandlerContext, Router
    from gcevents.testing.fakes import MemoryDeadLetterSink, MemoryIdempotencyStore
from gcevents.testing.fakes import MemoryStateStore

ALLOWED = ("aws.partner/genesys.com/cloud/",)


class Effects(Counter[str]):
    """Handler calls per idempotency key, for one pipeline (each has its own idempotency store)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def __call__(self, event: GenesysEvent, ctx: HandlerContext) -> None:
        with self.lock:
            self[ctx.idempotency_key] += 1


def _pipeline(allowed: tuple[str, ...]) -> tuple[Pipeline, MemoryDeadLetterSink, Effects]:
    effects = Effects()
    router = Router()
    router.add("*", effects)
    router.add_batch(StateProjection(MemoryStateStore()))
    sink = MemoryDeadLetterSink()
    settings = PipelineSettings(allowed_sources=allowed, deadline_margin=0.0, handler_concurrency=1)
    return Pipeline(idempotency=Idempotency(MemoryIdempotencyStore(), concurrency=1), dead_letters=sink,
                    router=router, settings=settings), sink, effects  # fmt: skip


PIPELINES = [_pipeline(()), _pipeline(ALLOWED)]


def _check(records: list[RawRecord]) -> None:
    for run, sink, effects in PIPELINES:
        before = len(sink.letters)
        report = run.run(records, time.time() + 60)
        if [r.record for r in report.results] != records:
            raise AssertionError("a record without exactly one outcome")
        if any(r.outcome is Outcome.RETRY for r in report.results):
            raise AssertionError(f"retry without a failing handler: {[r.reason for r in report.retries()]}")
        dead = sum(r.outcome is Outcome.DEAD_LETTERED for r in report.results)
        if len(sink.letters) - before != dead:
            raise AssertionError("dead-letter outcomes and letters disagree")
        for letter in sink.letters[before:]:
            if not letter.reason:
                raise AssertionError("a dead letter without a reason")
        del sink.letters[:]  # bound memory over millions of runs
        if effects and max(effects.values()) > 1:
            raise AssertionError(f"an effect ran twice: {effects.most_common(1)}")


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    records: list[RawRecord] = [RawRecord(text, "m-text"), RawRecord(data, "m-bytes")]
    try:
        document: Any = json.loads(data)
    except (ValueError, RecursionError):
        document = None
    if document is not None:
        records.extend(split_records(document))
        records.extend(split_records({"Records": [{"messageId": "m-sqs", "body": text}]}))
    _check(records)


def main() -> None:
    if not any(a for a in sys.argv[1:] if not a.startswith("-")):
        corpus = tempfile.mkdtemp(prefix="gcevents-fuzz-")
        for seed in Path(__file__).with_name("seeds").glob("*.json"):
            shutil.copy(seed, corpus)
        sys.argv.append(corpus)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
