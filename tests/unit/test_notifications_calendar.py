"""The reporting calendar, the reminder schedule and the routing choice (pure functions, no I/O)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from services.notifications.domain.calendar import (
    deadline_notice,
    obligation_for,
    obligations,
    re_remind_key,
    reached_reminder_keys,
    state_of,
    target_notice,
)
from services.notifications.domain.routing import Recipients, choose, severity

D = uuid.UUID("00000000-0000-0000-0000-000000000001")
DUE = date(2025, 6, 9)
REMINDERS = [14, 7, 1]


def test_plan_219_obligations_are_due_the_day_before_the_10th() -> None:
    assert [(o.kind, o.period, o.due_on) for o in obligations(2025)] == [
        ("semi_annual", "2025-H1", date(2025, 6, 9)),
        ("annual", "2025", date(2025, 12, 9)),
    ]
    assert obligation_for("semi_annual", "2026-H1") == obligations(2026)[0]
    assert obligation_for("annual", "2026") == obligations(2026)[1]
    assert obligation_for("semi_annual", "2026-H2") is None
    assert obligation_for("annual", "2026-H1") is None
    assert obligation_for("ad_hoc", "2026") is None


@pytest.mark.parametrize(
    ("today", "submitted", "state"),
    [
        (date(2025, 5, 25), None, "upcoming"),
        (date(2025, 5, 26), None, "due"),  # 14 days before: inside the reminder window
        (date(2025, 6, 9), None, "due"),  # the last day counts
        (date(2025, 6, 10), None, "overdue"),
        (date(2025, 6, 10), date(2025, 6, 9), "met"),
        (date(2025, 5, 1), date(2025, 4, 30), "met"),
        (date(2025, 6, 10), date(2025, 6, 10), "met_late"),
    ],
)
def test_deadline_states(today: date, submitted: date | None, state: str) -> None:
    assert state_of(DUE, submitted, today, 14) == state


def key(day: date) -> str | None:
    notice = deadline_notice(D, DUE, day, REMINDERS, 7)
    return notice.key.rsplit(":", 2)[-2] + ":" + notice.key.rsplit(":", 1)[-1] if notice else None


def test_the_notice_due_each_day_is_the_latest_reached() -> None:
    expected = {
        date(2025, 5, 25): None,
        date(2025, 5, 26): "before:14",
        date(2025, 6, 1): "before:14",
        date(2025, 6, 2): "before:7",
        date(2025, 6, 8): "before:1",
        date(2025, 6, 9): "before:1",  # the due day itself: nothing new
        date(2025, 6, 10): "overdue:0",
        date(2025, 6, 16): "overdue:0",
        date(2025, 6, 17): "overdue:1",
        date(2025, 7, 1): "overdue:3",
    }
    assert {day: key(day) for day in expected} == expected


def test_after_downtime_earlier_reminders_are_stale() -> None:
    notice = deadline_notice(D, DUE, date(2025, 6, 4), REMINDERS, 7)
    assert notice is not None and notice.key == f"deadline:{D}:before:7" and notice.days_left == 5
    assert notice.stale_keys == (f"deadline:{D}:before:14",)
    overdue = deadline_notice(D, DUE, date(2025, 6, 20), REMINDERS, 7)
    assert overdue is not None and overdue.template == "deadline_overdue" and overdue.days_overdue == 11
    assert set(overdue.stale_keys) == {f"deadline:{D}:before:{d}" for d in REMINDERS}


def test_every_day_of_a_year_yields_each_key_on_one_run_of_consecutive_days() -> None:
    seen: dict[str, list[date]] = {}
    day = date(2025, 1, 1)
    while day <= date(2025, 12, 31):
        notice = deadline_notice(D, DUE, day, REMINDERS, 7)
        if notice is not None:
            seen.setdefault(notice.key, []).append(day)
        day += timedelta(days=1)
    for days in seen.values():
        assert days == [days[0] + timedelta(days=i) for i in range(len(days))]
    assert [k.split(":", 2)[2] for k in seen][:5] == ["before:14", "before:7", "before:1", "overdue:0", "overdue:1"]


def test_a_request_created_inside_its_window_does_not_replay_reached_reminders() -> None:
    keys = reached_reminder_keys(D, date(2025, 8, 5), date(2025, 8, 1), REMINDERS)
    assert keys == [f"deadline:{D}:before:14", f"deadline:{D}:before:7"]


def test_target_reminders_stop_at_the_deadline() -> None:
    deadline = date(2025, 12, 31)
    first = target_notice("219:II.2.a", "92", deadline, date(2025, 7, 4), [180, 90, 30])
    assert first is not None and first.key == "target:219:II.2.a:92:before:180" and first.days_left == 180
    assert target_notice("219:II.2.a", "92", deadline, date(2025, 7, 3), [180, 90, 30]) is None
    assert target_notice("219:II.2.a", "92", deadline, date(2026, 1, 1), [180, 90, 30]) is None


def test_re_reminders_are_numbered_by_period() -> None:
    opened = date(2025, 6, 1)
    assert re_remind_key(D, opened, date(2025, 6, 7), 7) is None
    assert re_remind_key(D, opened, date(2025, 6, 8), 7) == f"alert:{D}:remind:1"
    assert re_remind_key(D, opened, date(2025, 6, 21), 7) == f"alert:{D}:remind:2"


def test_routing_rules_win_over_the_plan_and_the_unit_rule_over_the_star() -> None:
    plan = Recipients("UBND-926", ("SNN",))
    assert choose(plan, {}, "926") == plan
    star = {"*": ("SNN", ("LMHTX",))}
    assert choose(plan, star, "926") == Recipients("SNN", ("LMHTX",), overridden=True)
    both = {**star, "926": ("LMHTX", ("UBND-926", "LMHTX"))}
    chosen = choose(plan, both, "926")
    assert chosen.lead == "LMHTX" and chosen.roles() == [("LMHTX", "lead"), ("UBND-926", "coordinating")]


def test_severity_of_a_target_alert() -> None:
    assert severity("at_risk", "lead") == "warning"
    assert severity("not_achieved", "lead") == "warning"
    assert severity("missed", "lead") == "critical"
    assert severity("deteriorating", "lead") == "critical"
    assert severity("missed", "coordinating") == "info"
