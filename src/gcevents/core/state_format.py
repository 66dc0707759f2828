"""How a state item's state is serialised, with its format version, for the stores that keep it as JSON (SQLite's
`state` column, DynamoDB's compressed `state` attribute).

Formats (a release reads its own and every earlier one, and refuses to write over a newer one):

1. (before the format version) the bare state object; attribute values as sent.
2. the same object with `"_format": 2` added; attribute values as `GCEVENTS_ATTRIBUTES` allows (`null` when
   withheld, `hmac-sha256:...` when hashed). The parts and their join are unchanged, so a format 1 state reads
   as it is and the next write stores it as format 2.

The marker lives in the serialised text only: the state the merge sees never contains it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gcevents.errors import TransientError

FORMAT = 2
FORMAT_KEY = "_format"
FIRST_FORMAT = 1  # items without the marker


def dumps(state: Mapping[str, Any], *, sort_keys: bool = False) -> str:
    return json.dumps({FORMAT_KEY: FORMAT, **state}, separators=(",", ":"), sort_keys=sort_keys)


def loads(text: str | bytes) -> dict[str, Any]:
    """The state of any format up to ours. An item written by a newer release is a TransientError: its events
    wait (retry) until this one is replaced, rather than a write losing what it does not understand."""
    data: dict[str, Any] = json.loads(text)
    version = data.pop(FORMAT_KEY, FIRST_FORMAT)
    if not isinstance(version, int) or version > FORMAT:
        raise TransientError(f"state item of format {version!r}, written by a newer gcevents (this one reads {FORMAT})")
    return data


def format_of(text: str | bytes) -> int:
    version = json.loads(text).get(FORMAT_KEY, FIRST_FORMAT)
    return version if isinstance(version, int) else FIRST_FORMAT
