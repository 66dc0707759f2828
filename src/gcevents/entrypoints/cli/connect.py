"""`gcevents connect`: create or update the Genesys Cloud EventBridge integration, idempotently."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gcevents.core import topics


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "connect",
        help="create or update the Genesys Cloud 'Amazon EventBridge Source' integration (idempotent)",
        description=(
            "Makes Genesys Cloud send the topics to your AWS account's partner event source "
            "aws.partner/genesys.com/cloud/<orgId>/<SUFFIX>, through the public API with the GENESYS_* client "
            "credentials (GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET or GENESYS_CLIENT_SECRET_ARN, GENESYS_REGION). "
            "Finds the integration with the same suffix, writes only what differs, and enables it; a second run "
            "writes nothing. The OAuth client's role needs integrations:integration:view, :add and :edit."
        ),
    )
    parser.add_argument("--aws-account-id", required=True, metavar="ID", help="the 12-digit AWS account id")
    parser.add_argument("--aws-region", required=True, metavar="REGION", help="the AWS region, e.g. eu-west-1")
    parser.add_argument(
        "--suffix",
        required=True,
        metavar="NAME",
        help="the event source suffix (up to 64 letters, digits, '.', '-', '_'); it identifies the integration",
    )
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="T",
        help="a topic to subscribe to (repeatable); default: every conversation topic (`gcevents topics`)",
    )
    parser.add_argument("--name", default=None, help="the integration's name when it is created")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=cmd_connect)


def cmd_connect(args: argparse.Namespace) -> int:
    from gcevents.adapters.genesys import GenesysClient
    from gcevents.config import Config
    from gcevents.entrypoints.cli.exits import UsageError
    from gcevents.errors import ConfigError
    from gcevents.ops.connect import DEFAULT_NAME, ConnectRequest, connect

    request = ConnectRequest(
        aws_account_id=args.aws_account_id.strip(),
        aws_region=args.aws_region.strip(),
        suffix=args.suffix.strip(),
        topics=tuple(dict.fromkeys(args.topic)) or topics.DEFAULT_TOPICS,
        name=args.name or DEFAULT_NAME,
    )
    try:
        request.validate()  # before any credentials are needed
    except ConfigError as exc:  # the values of our own options: a usage error, not the environment's
        raise UsageError(str(exc)) from None
    settings = Config.from_env().genesys
    if settings is None:
        raise ConfigError(
            "set GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET (or GENESYS_CLIENT_SECRET_ARN) and GENESYS_REGION"
        )
    with GenesysClient(settings) as client:
        result = connect(client, request, dry_run=args.dry_run)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.document()))
        return 0
    print(result.text())
    if not args.dry_run:
        print(
            f"partner event source: {result.event_source_name} in account "
            f"{request.aws_account_id} ({request.aws_region}); deploy template.yaml with CreateEventBus=true "
            "(or associate it with a bus yourself)"
        )
    return 0
