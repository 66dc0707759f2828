"""`gcevents` command line. Subcommands live next to what they drive; each module offers `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from gcevents.entrypoints.cli.exits import Exit, status_of
from gcevents.errors import ConfigError, GcEventsError

# One module per command group, each with `register(subparsers)`; imported when the CLI starts (never on the
# Lambda path).
COMMAND_MODULES = (
    "gcevents.entrypoints.cli.setup",
    "gcevents.entrypoints.cli.process",
    "gcevents.entrypoints.cli.worker",
    "gcevents.entrypoints.cli.dlq",
    "gcevents.entrypoints.cli.state",
    "gcevents.entrypoints.cli.plan",
    "gcevents.entrypoints.cli.topics",
    "gcevents.entrypoints.cli.connect",
    "gcevents.entrypoints.cli.package",
    "gcevents.entrypoints.cli.demo",
    "gcevents.entrypoints.cli.simulate",
    "gcevents.entrypoints.cli.config",
    "gcevents.entrypoints.cli.sinks",
    "gcevents.entrypoints.cli.reconcile",
    "gcevents.entrypoints.cli.replay",
    "gcevents.entrypoints.cli.lake",
)


# What `gcevents --help` tells a user: what the tool is for, then (argparse) one line per command.
DESCRIPTION = (
    "Process Genesys Cloud conversation events on AWS: batched, exactly once in effect, enriched through the "
    "Genesys API within its limits, nothing lost. These commands connect Genesys to your AWS account, build and "
    "size the Lambda deployment, run events locally or as a worker, and inspect and redrive what failed."
)
EPILOG = (
    "Configuration comes from the environment (`gcevents config` lists every variable). "
    "`gcevents COMMAND --help` explains a command. Docs (in the repository and the sdist): the README, the "
    "Handlers guide (Writing handlers), the Deploy guide (Deploying gcevents on AWS)."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status is one of `exits.Exit` (docs/cli.md). Expected failures print one line on
    stderr, never a traceback: a traceback is left for bugs."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits 2 (USAGE) itself
    if not hasattr(args, "func"):
        parser.print_help()
        return Exit.USAGE
    try:
        return int(args.func(args))
    except GcEventsError as exc:
        print(f"gcevents: {exc}", file=sys.stderr)
        return status_of(exc)
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep the interpreter's final flush quiet
        return Exit.OK
    except OSError as exc:
        if exc.filename is None:  # not a file: a socket, a bug of ours
            raise
        print(f"gcevents: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return Exit.FAILED
    except Exception as exc:
        if (aws := _aws_error(exc)) is None:
            raise
        print(f"gcevents: {aws}", file=sys.stderr)
        return status_of(aws)


def _aws_error(exc: Exception) -> GcEventsError | None:
    """A botocore error (no credentials, no endpoint, access denied) as one line; botocore is only looked at when
    some command imported it."""
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None or not isinstance(exc, exceptions.BotoCoreError | exceptions.ClientError):
        return None
    from gcevents.adapters.aws import translate

    translated = translate(exc, "AWS")
    return translated if isinstance(translated, ConfigError) else GcEventsError(f"AWS: {exc}")


def build_parser() -> argparse.ArgumentParser:
    from gcevents._version import __version__

    parser = argparse.ArgumentParser(prog="gcevents", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"gcevents {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # left out of this install (the Lambda artifact has no demo/simulate commands)
        module.register(sub)
    return parser
