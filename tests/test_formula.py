"""The planner's arithmetic that explains itself: values as Python computes them, text with the needed parentheses."""

from __future__ import annotations

import pytest

from gcevents.ops.formula import Term, ceil, floor, largest, num, smallest


def test_values_are_the_plain_expression_and_the_text_shows_the_numbers() -> None:
    a, b, c = num(150), num(2000), num(2.5)
    term = (a + b * c) / 1000.0
    assert term.value == (150 + 2000 * 2.5) / 1000.0
    assert term.text == "(150 + 2000 x 2.5) / 1000"


@pytest.mark.parametrize(
    ("term", "text"),
    [
        (num(1) - (num(2) + num(3)), "1 - (2 + 3)"),
        (num(1) + (num(2) + num(3)), "1 + 2 + 3"),
        (num(8) / (num(2) * num(2)), "8 / (2 x 2)"),
        (num(8) * (num(2) / num(2)), "8 x 2 / 2"),
        ((num(1) + num(2)) * num(3), "(1 + 2) x 3"),
        (60.0 / num(5.35, digits=3) * num(4), "60 / 5.350 x 4"),
    ],
)
def test_parentheses_only_where_the_order_needs_them(term: Term, text: str) -> None:
    assert term.text == text


def test_rounding_functions_forgive_float_noise_only_when_asked() -> None:
    noisy = num(0.1) * 3 * 10  # 3.0000000000000004
    assert ceil(noisy).value == 4
    assert ceil(noisy, slack=1e-9).value == 3
    assert floor(num(2.9999999999)).value == 2
    assert floor(num(2.9999999999), slack=1e-9).value == 3
    assert (num(6291456, "B") // num(3072)).value == 2048
    assert (num(6291456, "B") // num(3072)).text == "floor(6291456 B / 3072)"


def test_min_max_and_names() -> None:
    need = num(7)
    term = largest(num(2, "AWS min"), smallest(need.called("peak"), num(5, "API")))
    assert (term.value, term.text) == (5, "max(2 AWS min, min(7 peak, 5 API))")
    assert (num(3) * num(4)).explained("product").text == "12 product = 3 x 4"
