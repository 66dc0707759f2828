"""`gcevents sinks list|test`: the configured outputs, and a signed sample to each webhook."""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sinks",
        help="list the configured outputs; post a signed sample to webhooks",
        description=(
            "The outputs without code (GCEVENTS_SINKS: webhook, eventbridge, firehose): what each receives, and a "
            "signed sample conversation.completed to check a webhook end to end. See the Outputs guide."
        ),
    )
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list",
        help="the sinks GCEVENTS_SINKS configures, and what goes to each",
        description="Each configured sink and the records and topics that go to it.",
    )
    listing.set_defaults(func=cmd_list)
    test = sub.add_parser(
        "test",
        help="POST a signed sample conversation.completed to each configured webhook",
        description=(
            "A sample conversation.completed, signed as real deliveries are (X-Gcevents-Signature), to each webhook "
            "sink (--sink adds one); prints each result. Exits 1 if a webhook did not accept it."
        ),
    )
    test.add_argument("--sink", action="append", default=[], metavar="SPEC", help="add a sink (GCEVENTS_SINKS syntax)")
    test.add_argument("--print", action="store_true", help="also print the sample document")
    test.set_defaults(func=cmd_test)


def cmd_list(args: argparse.Namespace) -> int:
    from gcevents.config import Config

    for spec in Config.from_env().outputs.sinks:
        selected = sorted(spec.derived) + list(spec.patterns)
        print(f"{spec.name}  (id {spec.sink_id})  <- {', '.join(selected)}")
    return 0


def sample_document() -> dict[str, Any]:
    """A realistic `conversation.completed`: a workload conversation through the real state merge."""
    from gcevents.core.events import GenesysEvent, RawRecord, parse_record
    from gcevents.core.records import COMPLETED, derive, document, version_of
    from gcevents.core.state import Observation, merge
    from gcevents.testing.workload import conversation_lifecycle

    cid = "00000000-0000-4000-8000-5a3d1e000001"
    events = conversation_lifecycle(cid, int(time.time() * 1000) - 900_000, random.Random(13))
    parsed = [parse_record(RawRecord(json.dumps(e))) for e in events]
    state = merge(None, [Observation(p, None, True) for p in parsed if isinstance(p, GenesysEvent)])
    content = derive(cid, state)
    return document(COMPLETED, cid, version_of(content), content)


def cmd_test(args: argparse.Namespace) -> int:
    from gcevents.config import config_with_sinks
    from gcevents.core.records import encode
    from gcevents.entrypoints.outputs import make_sink
    from gcevents.entrypoints.runtime import Resources
    from gcevents.ports import OutboundRecord

    config = config_with_sinks(args.sink).outputs
    webhooks = [s for s in config.sinks if s.kind == "webhook"]
    if not webhooks:
        print("no webhook sink configured (GCEVENTS_SINKS or --sink webhook:URL)")
        return 1
    doc = sample_document()
    if args.print:
        print(json.dumps(doc, indent=2))
    record = OutboundRecord(doc["id"], doc["type"], encode(doc), None, doc["conversationId"])
    failed = 0
    for spec in webhooks:
        sink = make_sink(spec, config, Resources())
        errors = sink.deliver([record], time.time() + config.webhook_timeout + 5)
        error = errors.get(record.key)
        print(f"{spec.name}: " + ("delivered (2xx)" if error is None else f"FAILED: {error}"))
        failed += error is not None
    return 1 if failed else 0
