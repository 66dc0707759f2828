"""What gcevents keeps and forwards of a conversation's participant attributes (`GCEVENTS_ATTRIBUTES`).

Participant data (`attributes` events) is whatever a flow or a CRM put there: account and card numbers, emails,
scores. The policy decides, per attribute name, what reaches the state item, the derived records and the raw
events gcevents forwards to sinks; a user's own handler still receives the full `AttributesEvent`.

Syntax: entries separated by `;`, combinable:

- `none`: no attributes at all (alone);
- `names`: every attribute's name, with its value withheld (`null`);
- `allow:a,b`: the values of the listed names, as sent;
- `hash:a,b`: the keyed HMAC-SHA256 of the listed names' values, `hmac-sha256:<64 hex>`: equal values give
  equal hashes (joinable across records and systems that share the key), a value cannot be read back.

`*` in a list means every name not listed elsewhere. A name not selected by any entry is dropped. The default,
`names`, lets no value leave the event unless it was allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

HASH_PREFIX = "hmac-sha256:"
EVERY = "*"


@dataclass(frozen=True, slots=True)
class AttributePolicy:
    names: bool = True  # keep every name (value withheld) that `allow` and `hash` do not select
    allow: frozenset[str] = frozenset()
    hash: frozenset[str] = frozenset()
    # The HMAC key, asked for on the first hashed value (Secrets Manager is read then, once per container).
    key: Callable[[], bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> AttributePolicy:
        """Raises ValueError (the configuration adds the variable's name) for anything ambiguous."""
        names, allow, hashed, seen_none = False, set[str](), set[str](), False
        for entry in (e.strip() for e in text.replace("\n", ";").split(";")):
            if not entry:
                continue
            kind, colon, rest = entry.partition(":")
            kind = kind.strip().lower()
            if kind == "none" and not colon:
                seen_none = True
            elif kind == "names" and not colon:
                names = True
            elif kind in ("allow", "hash") and colon:
                listed = {n.strip() for n in rest.split(",") if n.strip()}
                if not listed:
                    raise ValueError(f"{kind}: needs at least one attribute name")
                (allow if kind == "allow" else hashed).update(listed)
            else:
                raise ValueError(f"entry {entry[:40]!r}: expected none, names, allow:NAME,... or hash:NAME,...")
        if seen_none and (names or allow or hashed):
            raise ValueError("none cannot be combined with other entries")
        if both := sorted(allow & hashed):
            raise ValueError(f"{', '.join(both)[:80]} is both allowed and hashed")
        return cls(names, frozenset(allow), frozenset(hashed))

    @property
    def hashes(self) -> bool:
        return bool(self.hash)

    def with_key(self, key: Callable[[], bytes]) -> AttributePolicy:
        return AttributePolicy(self.names, self.allow, self.hash, key)

    def treatment(self, name: str) -> str | None:
        """ "allow", "hash", "name" or None (dropped). An explicit name beats `*`."""
        if name in self.allow:
            return "allow"
        if name in self.hash:
            return "hash"
        if EVERY in self.allow:
            return "allow"
        if EVERY in self.hash:
            return "hash"
        return "name" if self.names else None

    def apply(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """The attributes as gcevents may keep them: values allowed, hashed or withheld (None); others dropped."""
        kept: dict[str, Any] = {}
        for raw_name, value in attributes.items():
            name = str(raw_name)
            treatment = self.treatment(name)
            if treatment == "allow":
                kept[name] = value
            elif treatment == "hash":
                kept[name] = self.digest(value)
            elif treatment == "name":
                kept[name] = None
        return kept

    def digest(self, value: Any) -> str:
        if self.key is None:
            raise RuntimeError("hash: needs a key (GCEVENTS_ATTRIBUTES_HASH_KEY or _ARN)")  # refused at start
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
        return HASH_PREFIX + hmac.new(self.key(), text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def __str__(self) -> str:
        entries = ["names"] if self.names else []
        entries += [f"{kind}:{','.join(sorted(names))}" for kind, names in (("allow", self.allow), ("hash", self.hash))]
        return ";".join(e for e in entries if not e.endswith(":")) or "none"


DEFAULT_POLICY = AttributePolicy()
# Every value as sent: for tests and tools that build states from sample data, never a default.
KEEP_ALL = AttributePolicy(names=False, allow=frozenset({EVERY}))
