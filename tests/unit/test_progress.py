"""Worked examples of the progress method (DESIGN.md §5), including its edge cases."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest

from services.indicators.domain.progress import Goal, Point, evaluate, project

BASE_DAY = date(2023, 12, 31)
MID_2025 = date(2025, 6, 30)
DEADLINE = date(2025, 12, 31)
TODAY = date(2025, 7, 15)


def years(a: date, b: date) -> float:
    return (b - a).days / 365.25


def test_share_growing_too_slowly_is_at_risk_with_the_numbers() -> None:
    # 45 % → 58 % in 1.5 years; 65 % needed by the end of 2025.
    goal = Goal(threshold=Decimal(65), deadline=DEADLINE)
    points = [Point(BASE_DAY, Decimal(45)), Point(date(2024, 12, 31), Decimal(52)), Point(MID_2025, Decimal(58))]
    result = evaluate(goal, points[0], points, TODAY, unit="%")

    observed = (58 / 45) ** (1 / years(BASE_DAY, MID_2025)) - 1
    required = (65 / 45) ** (1 / years(BASE_DAY, DEADLINE)) - 1
    assert float(result.ratio or 0) == pytest.approx(observed / required, abs=0.001)
    assert 0.6 <= observed / required < 0.95
    assert result.status == "at_risk"
    assert "45%" in result.explanation
    assert "58%" in result.explanation
    assert "65%" in result.explanation
    assert "31/12/2025" in result.explanation  # dates as dd/mm/yyyy


def test_zero_baseline_uses_linear_rates() -> None:
    # No model cooperative at baseline; 2 now; 5 wanted: compound growth from 0 is undefined.
    goal = Goal(threshold=Decimal(5), deadline=DEADLINE)
    points = [Point(BASE_DAY, Decimal(0)), Point(MID_2025, Decimal(2))]
    result = evaluate(goal, points[0], points, TODAY)
    expected = (2 / years(BASE_DAY, MID_2025)) / (5 / years(BASE_DAY, DEADLINE))
    assert float(result.ratio or 0) == pytest.approx(expected, abs=0.001)
    assert result.status == "off_track"  # ≈ 0.53


def test_a_target_already_met_is_achieved() -> None:
    goal = Goal(threshold=Decimal(30), deadline=DEADLINE)
    points = [Point(BASE_DAY, Decimal(20)), Point(MID_2025, Decimal(31.5))]
    result = evaluate(goal, points[0], points, TODAY, unit="%")
    assert result.status == "achieved"
    assert result.ratio is None


def test_strict_targets_need_more_than_the_threshold() -> None:
    goal = Goal(threshold=Decimal(0), deadline=DEADLINE, strict=True)
    flat = [Point(BASE_DAY, Decimal(0)), Point(MID_2025, Decimal(0))]
    assert evaluate(goal, flat[0], flat, TODAY).status != "achieved"
    grown = [Point(BASE_DAY, Decimal(0)), Point(MID_2025, Decimal("0.5"))]
    assert evaluate(goal, grown[0], grown, TODAY).status == "achieved"


def test_a_decreasing_indicator_on_its_way_down_is_on_track() -> None:
    # e.g. weak cooperatives: 20 → 13 in 1.5 years, ≤ 12 wanted by the deadline.
    goal = Goal(threshold=Decimal(12), deadline=DEADLINE, direction="decrease")
    points = [Point(BASE_DAY, Decimal(20)), Point(MID_2025, Decimal(13))]
    result = evaluate(goal, points[0], points, TODAY)
    observed = (13 / 20) ** (1 / years(BASE_DAY, MID_2025)) - 1
    required = (12 / 20) ** (1 / years(BASE_DAY, DEADLINE)) - 1
    assert float(result.ratio or 0) == pytest.approx(observed / required, abs=0.001)
    assert result.status == "on_track"


def test_a_decreasing_indicator_going_up_is_deteriorating() -> None:
    goal = Goal(threshold=Decimal(12), deadline=DEADLINE, direction="decrease")
    points = [Point(BASE_DAY, Decimal(20)), Point(MID_2025, Decimal(22))]
    result = evaluate(goal, points[0], points, TODAY)
    assert result.ratio is not None
    assert result.ratio < 0
    assert result.status == "deteriorating"


def test_moving_away_from_the_target_is_deteriorating() -> None:
    goal = Goal(threshold=Decimal(50), deadline=DEADLINE)
    points = [Point(BASE_DAY, Decimal(20)), Point(MID_2025, Decimal(18))]
    assert evaluate(goal, points[0], points, TODAY).status == "deteriorating"


def test_falling_below_a_target_the_baseline_met_is_deteriorating() -> None:
    goal = Goal(threshold=Decimal(30), deadline=DEADLINE)
    points = [Point(BASE_DAY, Decimal(35)), Point(MID_2025, Decimal(29))]
    assert evaluate(goal, points[0], points, TODAY).status == "deteriorating"


def test_deadline_passed_without_meeting_the_target_is_missed() -> None:
    goal = Goal(threshold=Decimal(50), deadline=DEADLINE)
    points = [Point(BASE_DAY, Decimal(20)), Point(date(2025, 12, 31), Decimal(45))]
    result = evaluate(goal, points[0], points, date(2026, 1, 1))
    assert result.status == "missed"
    assert "quá hạn" in result.explanation


def test_fewer_than_two_points_is_insufficient_data() -> None:
    goal = Goal(threshold=Decimal(50), deadline=DEADLINE)
    only = [Point(BASE_DAY, Decimal(20))]
    result = evaluate(goal, only[0], only, TODAY)
    assert result.status == "insufficient_data"
    assert evaluate(goal, None, [], TODAY).status == "insufficient_data"


def test_yes_no_targets_are_achieved_or_not() -> None:
    goal = Goal(threshold=Decimal(1), deadline=DEADLINE, yes_no=True)
    none_yet = [Point(MID_2025, Decimal(0))]
    assert evaluate(goal, None, none_yet, TODAY).status == "not_achieved"
    one = [Point(MID_2025, Decimal(1))]
    assert evaluate(goal, None, one, TODAY).status == "achieved"
    assert evaluate(goal, None, none_yet, date(2026, 1, 2)).status == "missed"


def test_projection_is_a_recent_weighted_linear_trend() -> None:
    two = [Point(date(2024, 1, 1), Decimal(1)), Point(date(2025, 1, 1), Decimal(3))]
    # Two points: the line passes through both, whatever the weights.
    slope = 2 / years(date(2024, 1, 1), date(2025, 1, 1))
    expected = 1 + slope * years(date(2024, 1, 1), date(2026, 1, 1))
    assert float(project(two, date(2026, 1, 1)) or 0) == pytest.approx(expected, abs=0.001)

    # Three points with a kink: the recent segment weighs more than an unweighted fit would give it.
    kink = [
        Point(date(2024, 1, 1), Decimal(0)),
        Point(date(2025, 1, 1), Decimal(0)),
        Point(date(2026, 1, 1), Decimal(10)),
    ]
    xs = [0.0, years(date(2024, 1, 1), date(2025, 1, 1)), years(date(2024, 1, 1), date(2026, 1, 1))]
    ys, ws = [0.0, 0.0, 10.0], [1.0, 2.0, 3.0]
    mx = sum(w * x for w, x in zip(ws, xs, strict=True)) / 6
    my = sum(w * y for w, y in zip(ws, ys, strict=True)) / 6
    b = sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys, strict=True)) / sum(
        w * (x - mx) ** 2 for w, x in zip(ws, xs, strict=True)
    )
    at = years(date(2024, 1, 1), date(2027, 1, 1))
    assert float(project(kink, date(2027, 1, 1)) or 0) == pytest.approx(my + b * (at - mx), abs=0.001)
    assert not math.isnan(float(project(kink, date(2027, 1, 1)) or 0))
    assert project(kink[:1], date(2027, 1, 1)) is None
