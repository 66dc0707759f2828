"""ISO-8601 times (gcevents.core.times): lenient reading, one written form, exact milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gcevents.core.times import epoch_ms, iso_from_ms, iso_z, parse_iso

MS = st.integers(min_value=0, max_value=253_402_300_799_999)  # up to 9999-12-31T23:59:59.999Z


@given(MS)
def test_written_times_read_back_to_the_same_millisecond(ms: int) -> None:
    text = iso_from_ms(ms)
    assert text.endswith("Z")
    moment = parse_iso(text)
    assert moment is not None
    assert epoch_ms(moment) == ms
    assert iso_z(moment) == text


@given(st.one_of(st.text(), st.integers(), st.none(), st.floats(), st.binary()))
def test_anything_that_is_not_iso_text_reads_as_none_never_raises(value: object) -> None:
    moment = parse_iso(value)
    assert moment is None or moment.tzinfo is not None


def test_offsets_and_naive_text() -> None:
    assert parse_iso("2026-12-01T19:21:11.5+01:00") == datetime(2026, 12, 1, 18, 21, 11, 500_000, tzinfo=UTC)
    assert parse_iso(" 2026-12-01T18:21:11 ") == datetime(2026, 12, 1, 18, 21, 11, tzinfo=UTC)  # naive: UTC
    assert iso_z(datetime(2026, 12, 1, 19, 0, tzinfo=UTC)) == "2026-12-01T19:00:00.000Z"
    assert parse_iso("yesterday") is None


def test_other_precisions_are_written_with_the_z_too() -> None:
    moment = datetime(2026, 12, 1, 18, 21, 11, 123_456, tzinfo=UTC)
    assert iso_z(moment, "seconds") == "2026-12-01T18:21:11Z"
    assert iso_z(moment, "auto") == "2026-12-01T18:21:11.123456Z"
    assert iso_z(moment.replace(microsecond=0), "auto") == "2026-12-01T18:21:11Z"
