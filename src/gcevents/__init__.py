"""gcevents: batched, exactly-once-in-effect processing of Genesys Cloud events on AWS.

`gcevents.handler` is the Lambda entry point. It is resolved lazily so that `import gcevents` stays cheap
for the CLI and for users who only want the router or the event model."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def handler(event: Any, context: Any) -> Any:
    from gcevents.entrypoints.lambda_handler import handler as _handler

    return _handler(event, context)
