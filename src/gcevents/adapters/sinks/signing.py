"""The webhook signature: `X-Gcevents-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.

The convention payment and SaaS platforms use: the timestamp is signed with the body, so a receiver can refuse
replays older than its window, and compares in constant time. `verify` is what a Python receiver runs."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Gcevents-Signature"
DEFAULT_TOLERANCE = 300  # seconds a receiver accepts between the signed timestamp and its clock


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def header_value(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    secret: str, body: bytes, header: str | None, *, tolerance: float = DEFAULT_TOLERANCE, now: float | None = None
) -> bool:
    """True when `header` signs `body` with `secret` within `tolerance` seconds of `now`. Accepts several v1
    values (a sender rotating its secret signs with both)."""
    if not header:
        return False
    parts = [p.strip().partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    candidates = [v for k, _, v in parts if k == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not candidates:
        return False
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = signature(secret, t, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
