from datetime import UTC, date, datetime, timedelta

import pytest

from shared import tracing
from shared.clock import FixedClock


def test_vietnam_date_rolls_over_at_17_utc() -> None:
    clock = FixedClock(datetime(2025, 6, 9, 16, 59, tzinfo=UTC))
    assert clock.today() == date(2025, 6, 9)
    clock.advance(timedelta(minutes=1))
    assert clock.today() == date(2025, 6, 10)  # 00:00 on 10 June in Cần Thơ: the semi-annual report is late


def test_fixed_clock_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(datetime(2025, 1, 1))


def test_child_span_keeps_the_trace_id() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    child = tracing.child_of(parent)
    assert tracing.trace_id(child) == "0af7651916cd43dd8448eb211c80319c"
    assert child != parent


@pytest.mark.parametrize("bad", [None, "", "garbage", "00-" + "0" * 32 + "-b7ad6b7169203331-01"])
def test_malformed_traceparent_starts_a_new_trace(bad: str | None) -> None:
    child = tracing.child_of(bad)
    assert tracing.trace_id(child) is not None
    assert tracing.trace_id(child) != "0" * 32
