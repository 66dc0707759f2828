"""`gcevents sinks list|test`: the configured outputs, and a signed sample to each webhook."""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from gcevents.entrypoints.cli.exits import Exit
from gcevents.errors import GcEventsError


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
    listing.add_argument("--json", action="store_true", help="a JSON array of the sinks")
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
    test.add_argument("--json", action="store_true", help="the results (and with --print the sample) as JSON")
    test.set_defaults(func=cmd_test)


def cmd_list(args: argparse.Namespace) -> int:
    from gcevents.config import Config

    specs = Config.from_env().outputs.sinks
    if args.json:  # names only, as in logs: a webhook's path and query may carry tokens
        rows = [
            {
                "name": s.name,
                "kind": s.kind,
                "id": s.sink_id,
                "derived": sorted(s.derived),
                "patterns": list(s.patterns),
            }
            for s in specs
        ]
        print(json.dumps(rows))
        return 0
    for spec in specs:
        selected = sorted(spec.derived) + list(spec.patterns)
        print(f"{spec.name}  (id {spec.sink_id})  <- {', '.join(selected)}")
    return 0


def sample_document() -> dict[str, Any]:
    """A realistic `conversation.completed`: a workload conversation through the real state merge."""
    from gcevents.core.documents import COMPLETED, derive, document, version_of
    from gcevents.core.events import GenesysEvent, RawRecord, parse_record
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
    from gcevents.core.documents import encode
    from gcevents.entrypoints.outputs import make_sink
    from gcevents.entrypoints.resources import Resources
    from gcevents.ports import OutboundRecord

    config = config_with_sinks(args.sink).outputs
    webhooks = [s for s in config.sinks if s.kind == "webhook"]
    if not webhooks:
        raise GcEventsError("no webhook sink configured (GCEVENTS_SINKS or --sink webhook:URL)")
    doc = sample_document()
    if args.print and not args.json:
        print(json.dumps(doc, indent=2))
    record = OutboundRecord(doc["id"], doc["type"], encode(doc), None, doc["conversationId"])
    results: dict[str, str | None] = {}
    for spec in webhooks:
        sink = make_sink(spec, config, Resources())
        errors = sink.deliver([record], time.time() + config.webhook_timeout + 5)
        failure = errors.get(record.key)
        results[spec.name] = error = None if failure is None else str(failure)
        if not args.json:
            print(f"{spec.name}: " + ("delivered (2xx)" if error is None else f"FAILED: {error}"))
    if args.json:
        rows = [{"sink": name, "delivered": error is None, "error": error} for name, error in results.items()]
        print(json.dumps({"results": rows, **({"sample": doc} if args.print else {})}))
    return Exit.FAILED if any(error is not None for error in results.values()) else Exit.OK
