"""A tiny arithmetic that remembers how each value was computed, so a formula is written once and renders its
own explanation with the numbers used: `ceil(num(1.2) * num(2000) / per_instance)` is 7 and reads
`ceil(1.2 x 2000 / 373.8)`. Values are computed with the same float operations, in the same order, as the
plain expression would be."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

_SUM, _PRODUCT, _ATOM = 1, 2, 3  # how tightly a rendering binds: decides the parentheses


def show(value: float, digits: int | None = None) -> str:
    """`digits` decimals when given; integers as they are; other floats in their shortest form."""
    if digits is not None:
        return f"{value:.{digits}f}"
    return str(value) if isinstance(value, int) else f"{value:g}"


@dataclass(frozen=True, slots=True)
class Term:
    value: float
    text: str
    rank: int = _ATOM
    digits: int | None = None  # how the value is shown when the term is named or referred to

    # ---------------------------------------------------------------------------------- naming
    def called(self, label: str) -> Term:
        """Refer to the value by number and name (`7 peak`), hiding how it was computed."""
        return Term(self.value, f"{show(self.value, self.digits)} {label}", _ATOM, self.digits)

    def explained(self, label: str) -> Term:
        """Name the value and show its derivation inline (`2048 payload cap = floor(...)`)."""
        return Term(self.value, f"{show(self.value, self.digits)} {label} = {self.text}", _ATOM, self.digits)

    def noted(self, remark: str) -> Term:
        """The same value with a remark after its formula."""
        return Term(self.value, f"{self.text} ({remark})", self.rank, self.digits)

    def rounded(self, digits: int) -> Term:
        """The same value, shown with `digits` decimals where it is referred to later."""
        return Term(self.value, show(self.value, digits), _ATOM, digits)

    # ---------------------------------------------------------------------------------- arithmetic
    def __add__(self, other: Term | float) -> Term:
        return _binary(self, other, "+", _SUM, lambda a, b: a + b)

    def __sub__(self, other: Term | float) -> Term:
        return _binary(self, other, "-", _SUM, lambda a, b: a - b)

    def __mul__(self, other: Term | float) -> Term:
        return _binary(self, other, "x", _PRODUCT, lambda a, b: a * b)

    def __truediv__(self, other: Term | float) -> Term:
        return _binary(self, other, "/", _PRODUCT, lambda a, b: a / b)

    def __floordiv__(self, other: Term | float) -> Term:
        """floor(a / b) as an integer (Python's float floor division)."""
        quotient = _binary(self, other, "/", _PRODUCT, lambda a, b: a // b)
        return Term(int(quotient.value), f"floor({quotient.text})")

    def __radd__(self, other: float) -> Term:
        return num(other) + self

    def __rmul__(self, other: float) -> Term:
        return num(other) * self

    def __rtruediv__(self, other: float) -> Term:
        return num(other) / self


def num(value: float, label: str = "", digits: int | None = None) -> Term:
    """A known number, optionally labelled (`20 API wait`)."""
    text = show(value, digits)
    return Term(value, f"{text} {label}" if label else text, _ATOM, digits)


def _binary(left: Term, right: Term | float, sign: str, rank: int, op: Callable[[float, float], float]) -> Term:
    right = right if isinstance(right, Term) else num(right)
    left_text = f"({left.text})" if left.rank < rank else left.text
    # a - (b + c) and a / (b x c) need their parentheses; a + (b + c) and a x (b x c) do not.
    tight = right.rank <= rank if sign in "-/" else right.rank < rank
    right_text = f"({right.text})" if tight else right.text
    return Term(op(left.value, right.value), f"{left_text} {sign} {right_text}", rank)


def ceil(term: Term, slack: float = 0.0) -> Term:
    """Rounded up; `slack` forgives float noise just above an integer (not shown)."""
    return Term(math.ceil(term.value - slack), f"ceil({term.text})")


def floor(term: Term, slack: float = 0.0) -> Term:
    """Rounded down; `slack` forgives float noise just below an integer (not shown)."""
    return Term(math.floor(term.value + slack), f"floor({term.text})")


def smallest(*terms: Term) -> Term:
    return Term(min(t.value for t in terms), f"min({', '.join(t.text for t in terms)})")


def largest(*terms: Term) -> Term:
    return Term(max(t.value for t in terms), f"max({', '.join(t.text for t in terms)})")
