"""Text that came from outside: what can be stored, what can be shown, how to get the original bytes back.

A Python `str` can hold lone surrogates (U+D800..U+DFFF): a JSON `"\\ud800"` escape decodes to one, and
`bytes.decode("utf-8", "surrogateescape")` turns each undecodable byte b into U+DC00+b. No UTF-8 store (SQLite,
DynamoDB, SQS) accepts them, so one such string must cost one record, never a batch. Control characters are
valid text and round-trip through every store, but a terminal obeys them (ANSI escapes in an id can rewrite
what an operator sees): human output goes through `printable`.

Pure standard library: imported by the core, the adapters and the CLI alike.
"""

from __future__ import annotations

import re

# Control characters (C0, DEL, C1), lone surrogates, and the invisible format characters that reorder or hide
# text on a terminal (bidi overrides and isolates, zero-width marks, BOM).
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def is_scalar(text: str) -> bool:
    """True when `text` is a string of Unicode scalar values (no lone surrogate): UTF-8 can encode it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def first_surrogate(text: str) -> int | None:
    """The offset of the first lone surrogate, or None."""
    found = _SURROGATE.search(text)
    return found.start() if found else None


def storable(text: str) -> str:
    """`text` if UTF-8 can encode it, else with each lone surrogate written as a `\\udXXX` escape. For labels
    (ids, topics, error messages) that must be stored whatever they hold; bodies keep their bytes instead
    (`original_bytes`)."""
    if is_scalar(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def original_bytes(text: str) -> bytes:
    """The bytes `text` stands for: UTF-8, where undecodable input bytes (carried as U+DC80..U+DCFF by
    `surrogateescape`, as `gcevents process` reads a line that is not UTF-8) become those bytes again, and any
    other lone surrogate its 3-byte `surrogatepass` form."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def printable(text: str, limit: int | None = None) -> str:
    """For terminals: control, surrogate and invisible format characters as `\\x1b` / `\\u202e` escapes, cut
    to `limit` characters first."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
