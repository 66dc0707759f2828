"""The exit status of every `gcevents` command: one table, the one docs/cli.md shows (a test keeps the two equal).

`main` maps the error family onto it (a `ConfigError` is CONFIG, a `UsageError` USAGE, any other gcevents error
FAILED); commands return OK, INCOMPLETE or their own GAPS_REMAIN."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum

from gcevents.errors import GcEventsError


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    INCOMPLETE = 3
    GAPS_REMAIN = 4
    CONFIG = 78  # EX_CONFIG of sysexits.h, as service managers know it
    INTERRUPTED = 130  # 128 + SIGINT, as shells report it


# The meaning of each code, as docs/cli.md's table shows it.
MEANINGS: Mapping[Exit, str] = {
    Exit.OK: "done: every record processed or a duplicate (a command without records: it did what it says)",
    Exit.FAILED: "the command failed: a missing or unreadable file, a call AWS or Genesys refused, a check that"
    " did not pass (`demo`'s loss check, `sinks test`, `state get` of an unknown conversation, a replay that"
    " failed); one line on stderr says why",
    Exit.USAGE: "usage: unknown command or option, a missing or malformed argument (nothing was done)",
    Exit.INCOMPLETE: "some records were dead-lettered or left unfinished (`process`, `dlq redrive`, `worker`):"
    " the summary says how many and why; unfinished ones are not lost (run again, or the queue redelivers)",
    Exit.GAPS_REMAIN: "`reconcile`: gaps remain in the window (found without `--apply`, too recent, or not repaired)",
    Exit.CONFIG: "configuration error, found before any record was touched: a variable out of range (named, with"
    " what it allows), settings that cannot work together, a table or queue that does not exist, credentials"
    " refused",
    Exit.INTERRUPTED: "interrupted (Ctrl-C); the worker treats SIGINT and SIGTERM as its graceful stop: 0",
}


class UsageError(GcEventsError):
    """Arguments that do not fit together (argparse cannot say so itself): exit USAGE."""


def status_of(error: GcEventsError) -> Exit:
    from gcevents.errors import ConfigError

    if isinstance(error, ConfigError):
        return Exit.CONFIG
    return Exit.USAGE if isinstance(error, UsageError) else Exit.FAILED


def markdown_table() -> str:
    """docs/cli.md's table."""
    rows = (f"| `{code.value}` | {MEANINGS[code]} |" for code in Exit)
    return "\n".join(["| exit | meaning |", "| --- | --- |", *rows])
