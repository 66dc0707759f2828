"""A secret string: the one type every credential travels in (the Genesys client secrets, the webhook signing
secrets, the attribute hash key), in a module of its own because Genesys, the sinks and the configuration all use
it. Stdlib only."""

from __future__ import annotations

import hmac


class Secret:
    """A string that never shows itself in a repr, str, log line or traceback; `reveal()` is explicit."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:  # pickling would be a way to leak it
        raise TypeError("Secret values are not picklable")
