"""`gcevents setup`: create the DynamoDB tables, SQS queues and SQLite files the configuration names."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gcevents.config import Config, StoreSpec
from gcevents.ops.plan import worker_max_receive_count


def register(subparsers: Any) -> None:
    setup = subparsers.add_parser(
        "setup",
        help="create the DynamoDB tables / SQS queues / SQLite files configured",
        description=(
            "Create what the configuration names and does not exist yet: the DynamoDB tables of "
            "GCEVENTS_IDEMPOTENCY_STORE and GCEVENTS_STATE_STORE (and GENESYS_BUDGET_TABLE with "
            "GENESYS_BUDGET_SCOPE=shared), the SQLite files, and with --queue an SQS queue "
            "with its dead-letter queue. For a worker or a test account; in a deployment the SAM template creates "
            "them. Running it twice changes nothing."
        ),
    )
    setup.add_argument(
        "--queue", metavar="NAME", help="also create this SQS queue (and NAME-dlq with a redrive policy)"
    )
    setup.add_argument(
        "--max-receive-count",
        type=int,
        default=worker_max_receive_count(),
        help="receives before the queue moves a message to NAME-dlq (default %(default)s: enough for the worker and "
        "for Lambda)",
    )
    setup.add_argument(
        "--visibility-timeout",
        type=int,
        default=360,
        metavar="SECONDS",
        help="the queue's visibility timeout (default: %(default)s)",
    )
    setup.add_argument("--json", action="store_true", help="print what was created as JSON")
    setup.set_defaults(func=cmd_setup)


def cmd_setup(args: argparse.Namespace) -> int:
    config = Config.from_env()
    created = setup_resources(
        config, queue=args.queue, max_receive_count=args.max_receive_count, visibility_timeout=args.visibility_timeout
    )
    if args.json:
        print(json.dumps(created))
    else:
        for what, value in created.items():
            print(f"{what}: {value}")
    return 0


def setup_resources(
    config: Config,
    *,
    queue: str | None = None,
    max_receive_count: int = worker_max_receive_count(),
    visibility_timeout: int = 360,
) -> dict[str, Any]:
    """Idempotent: running it twice changes nothing."""
    from gcevents.adapters.aws import make_client

    done: dict[str, Any] = {}
    dynamodb = None
    for label, spec in (("idempotency", config.idempotency_store), ("state", config.state_store)):
        if spec.kind == "dynamodb":
            dynamodb = dynamodb or make_client("dynamodb")
            if label == "idempotency":
                from gcevents.adapters.dynamodb import create_idempotency_table

                created = create_idempotency_table(dynamodb, spec.target)
            else:
                from gcevents.adapters.dynamodb import create_state_table

                created = create_state_table(dynamodb, spec.target)
            done[f"{label}_table"] = f"{spec.target} ({'created' if created else 'exists'})"
        elif spec.kind == "sqlite":
            done[f"{label}_db"] = _touch_sqlite(spec, label, config)
    genesys = config.genesys
    if genesys is not None and genesys.budget_scope == "shared" and genesys.budget_table:
        from gcevents.adapters.dynamodb.budget import create_budget_table

        dynamodb = dynamodb or make_client("dynamodb")
        created = create_budget_table(dynamodb, genesys.budget_table)
        done["budget_table"] = f"{genesys.budget_table} ({'created' if created else 'exists'})"
    if config.dead_letters.kind == "sqlite":
        done["dead_letters_db"] = _touch_sqlite(config.dead_letters, "dead_letters", config)
    if queue:
        from gcevents.adapters.sqs import create_queues

        done.update(
            create_queues(
                make_client("sqs"), queue, visibility_timeout=visibility_timeout, max_receive_count=max_receive_count
            )
        )
    return done


def _touch_sqlite(spec: StoreSpec, label: str, config: Config) -> str:
    from gcevents.adapters.sqlite import SqliteDatabase, SqliteDeadLetterSink, SqliteIdempotencyStore

    if label == "idempotency":
        SqliteIdempotencyStore(SqliteDatabase(spec.target))
    elif label == "dead_letters":
        SqliteDeadLetterSink(SqliteDatabase(spec.target))
    else:
        from gcevents.adapters.sqlite import SqliteStateStore

        SqliteStateStore(spec.target, ttl_days=config.state_ttl_days)
    return spec.target
