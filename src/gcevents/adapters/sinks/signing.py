"""The webhook signature: `X-Gcevents-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.

The convention payment and SaaS platforms use: the timestamp is signed with the body, so a receiver can refuse
replays older than its window, and compares in constant time. `verify` is what a Python receiver runs.

Rotation without a flag day: the secret setting may hold a JSON list of secrets (`["current", "next"]`); every
delivery then carries one `v1=` per secret, so a receiver that knows either one verifies it (as Stripe does).

The same deliveries also carry the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<t>." + body)>`, one per secret, space-separated), so a
receiver in any language can verify with that project's libraries. The HMAC key is the secret's UTF-8 bytes, or,
for a secret written `whsec_<base64>`, the decoded bytes, as the specification has it.

The `Idempotency-Key` header is not signed on its own: it is always the body's `id`, which is, so a receiver that
dedupes on the signed body's `id` (or checks that the header equals it) cannot be fooled by a forged header."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence

HEADER = "X-Gcevents-Signature"
STANDARD_ID = "webhook-id"
STANDARD_TIMESTAMP = "webhook-timestamp"
STANDARD_SIGNATURE = "webhook-signature"
DEFAULT_TOLERANCE = 300  # seconds a receiver accepts between the signed timestamp and its clock
MAX_SECRETS = 3  # current and next (and, briefly, the one before)
_STANDARD_PREFIX = "whsec_"


def secrets_of(text: str) -> tuple[str, ...]:
    """The secrets a setting holds: one secret as given, or a JSON list of them (rotation). Raises ValueError
    with a message that never contains a secret."""
    if not text.lstrip().startswith("["):
        return (text,)
    try:
        listed = json.loads(text)
    except ValueError:
        raise ValueError("starts with [ but is not a JSON list of secrets") from None
    if not isinstance(listed, list) or not 1 <= len(listed) <= MAX_SECRETS:
        raise ValueError(f"a JSON list of 1 to {MAX_SECRETS} secrets (the current one and the next) is expected")
    if not all(isinstance(s, str) and s.strip() for s in listed) or len(set(listed)) != len(listed):
        raise ValueError("every secret of the list must be a distinct, non-empty string")
    return tuple(listed)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def header_value(secret: str | Sequence[str], body: bytes, timestamp: int | None = None) -> str:
    """`t=<t>,v1=<sig>` with one `v1=` per secret."""
    secrets = (secret,) if isinstance(secret, str) else tuple(secret)
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"v1={signature(s, t, body)}" for s in secrets)])


def standard_key(secret: str) -> bytes:
    if secret.startswith(_STANDARD_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(_STANDARD_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            pass  # not base64 after all: the bytes as written, like any other secret
    return secret.encode("utf-8")


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(standard_key(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def standard_headers(secrets: Sequence[str], message_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        STANDARD_ID: message_id,
        STANDARD_TIMESTAMP: str(timestamp),
        STANDARD_SIGNATURE: " ".join(standard_signature(s, message_id, timestamp, body) for s in secrets),
    }


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


def verify_standard(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """The Standard Webhooks check (what that project's libraries do), for receivers and tests."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id, stamp = lowered.get(STANDARD_ID), lowered.get(STANDARD_TIMESTAMP, "")
    if not message_id or not stamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = standard_signature(secret, message_id, int(stamp), body)
    offered = lowered.get(STANDARD_SIGNATURE, "").split()
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
