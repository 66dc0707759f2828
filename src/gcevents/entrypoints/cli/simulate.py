"""`gcevents simulate-genesys`: run the Genesys API simulator as a local server."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from gcevents.entrypoints.cli.options import options_from_args


def register(subparsers: Any) -> None:
    """Add the `simulate-genesys` subcommand to the main CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate-genesys",
        help="serve a local Genesys Cloud API simulator (OAuth, analytics details, rate limits, faults)",
        description=(
            "Point gcevents at it with GENESYS_API_BASE_URL=http://HOST:PORT (login is served on the same URL), "
            "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET as printed at start."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=int, default=8089, help="port to listen on; 0 picks a free one (%(default)s)")
    parser.add_argument("--client-id", default="gcevents-sim", help="the OAuth client id it accepts")
    parser.add_argument("--client-secret", default="gcevents-sim-secret", help="the client secret it accepts")
    parser.add_argument("--token-expires-in", type=int, default=86399, help="seconds")
    parser.add_argument("--rate-per-minute", type=int, default=300, help="per window; 0 = unlimited")
    parser.add_argument(
        "--rate-window",
        dest="rate_window_seconds",
        metavar="RATE_WINDOW",
        type=float,
        default=60.0,
        help="rate-limit window in seconds",
    )
    parser.add_argument(
        "--rate-scope",
        dest="rate_limit_scope",
        choices=("token", "client"),
        default="token",
        help="one budget per token (default) or one shared by every token of the client",
    )
    parser.add_argument(
        "--limits-status", type=int, default=200, help="answer of the limits API (e.g. 403: clients fall back)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every API call")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of API calls answered 503")
    parser.add_argument("--slow-rate", type=float, default=0.0, help="fraction of API calls that are slow")
    parser.add_argument("--slow-ms", type=float, default=1000.0, help="how slow a slow call is (%(default)s)")
    parser.add_argument(
        "--lag-fraction",
        dest="lagging_fraction",
        metavar="LAG_FRACTION",
        type=float,
        default=0.0,
        help="conversations analytics knows late",
    )
    parser.add_argument("--lag-lookups", type=int, default=1, help="lookups before a lagging one appears")
    parser.add_argument(
        "--max-ids",
        dest="max_ids_per_request",
        metavar="MAX_IDS",
        type=int,
        default=100,
        help="ids per bulk call before answering 400",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the faults and of the generated conversations")
    parser.add_argument("--json", action="store_true", help="print the address and environment as one JSON line")
    parser.set_defaults(func=cmd_simulate_genesys)


def cmd_simulate_genesys(args: argparse.Namespace) -> int:
    from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

    # The simulator (and httpx with it) is imported only when this command runs, hence no defaults from it above.
    options = options_from_args(SimulatorOptions, args, rate_limit_per_minute=args.rate_per_minute or None)
    simulator = GenesysSimulator(options).start()
    if args.json:  # one line a script can read before the server blocks
        print(json.dumps({"baseUrl": simulator.base_url, "env": simulator.env()}), flush=True)
    else:
        print(f"Genesys API simulator listening on {simulator.base_url} (GET /stats, POST /stats/reset)", flush=True)
        print(json.dumps(simulator.env(), indent=2), flush=True)
    try:
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        simulator.close()
    return 0
