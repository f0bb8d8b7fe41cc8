"""The reporting calendar of plan 219 (section V.8) and the schedule of reminders — pure functions, no I/O.

- Every department and every district People's Committee reports to SNN: the semi-annual report before
  10 June (period `YYYY-H1`) and the annual report before 10 December (period `YYYY`). "Before 10 June"
  means by the end of 9 June, Vietnam time, so `due_on` is 9 June, inclusive.
- States come from the dates and the submission: upcoming → due (inside the reminder window) → overdue,
  or met / met_late once the submission arrives.
- Scheduled notices have stable keys. On any day the scheduler asks "which notice is due now?" and gets at
  most one per deadline: the latest reminder whose day has come, or the current week of being overdue. The
  earlier reminders it supersedes are returned as `stale_keys`, claimed silently, so after downtime an
  agency gets one reminder, not a burst of out-of-date ones.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

REPORTING_AGENCY_KINDS = frozenset({"department", "district_committee"})
"""Plan 219 V.8: "các sở, ban, ngành và UBND quận, huyện" report; the Alliance and the Front do not (see docs)."""

SEMI_ANNUAL, ANNUAL, AD_HOC = "semi_annual", "annual", "ad_hoc"
UPCOMING, DUE, OVERDUE, MET, MET_LATE = "upcoming", "due", "overdue", "met", "met_late"
STATES = (UPCOMING, DUE, OVERDUE, MET, MET_LATE)

_PERIOD = {SEMI_ANNUAL: re.compile(r"^(\d{4})-H1$"), ANNUAL: re.compile(r"^(\d{4})$")}


@dataclass(frozen=True)
class Obligation:
    kind: str
    period: str
    due_on: date


def obligations(year: int) -> list[Obligation]:
    return [Obligation(SEMI_ANNUAL, f"{year}-H1", date(year, 6, 9)), Obligation(ANNUAL, str(year), date(year, 12, 9))]


def obligation_for(kind: str, period: str) -> Obligation | None:
    """The periodic obligation a submission of (`kind`, `period`) answers; None for ad-hoc or a foreign period."""
    pattern = _PERIOD.get(kind)
    match = pattern.match(period) if pattern else None
    if match is None:
        return None
    return next(o for o in obligations(int(match.group(1))) if o.kind == kind)


def state_of(due_on: date, submitted_on: date | None, today: date, window_days: int) -> str:
    if submitted_on is not None:
        return MET if submitted_on <= due_on else MET_LATE
    if today > due_on:
        return OVERDUE
    if (due_on - today).days <= window_days:
        return DUE
    return UPCOMING


@dataclass(frozen=True)
class ScheduledNotice:
    key: str
    template: str  # deadline_reminder | deadline_overdue | target_deadline
    days_left: int  # negative once overdue
    stale_keys: tuple[str, ...] = ()

    @property
    def days_overdue(self) -> int:
        return max(0, -self.days_left)


def _latest_reached(due_on: date, today: date, offsets: Sequence[int]) -> tuple[int, list[int]] | None:
    reached = sorted(d for d in offsets if (due_on - today).days <= d)
    if not reached or today > due_on:
        return None
    return reached[0], reached[1:]


def deadline_notice(
    deadline_id: uuid.UUID, due_on: date, today: date, reminder_days: Sequence[int], repeat_days: int
) -> ScheduledNotice | None:
    """The notice a still-open reporting deadline is due for today, if any (see the module docstring)."""
    days_left = (due_on - today).days
    if days_left < 0:
        week = (-days_left - 1) // repeat_days  # day 1..7 after the due date: 0; day 8..14: 1; …
        stale = tuple(f"deadline:{deadline_id}:before:{d}" for d in sorted(reminder_days, reverse=True))
        return ScheduledNotice(f"deadline:{deadline_id}:overdue:{week}", "deadline_overdue", days_left, stale)
    latest = _latest_reached(due_on, today, reminder_days)
    if latest is None:
        return None
    offset, earlier = latest
    stale = tuple(f"deadline:{deadline_id}:before:{d}" for d in earlier)
    return ScheduledNotice(f"deadline:{deadline_id}:before:{offset}", "deadline_reminder", days_left, stale)


def reached_reminder_keys(deadline_id: uuid.UUID, due_on: date, today: date, reminder_days: Sequence[int]) -> list[str]:
    """Reminders whose day has already come (a request created late in its own window must not replay them)."""
    return [f"deadline:{deadline_id}:before:{d}" for d in reminder_days if (due_on - today).days <= d]


def target_notice(
    target_id: str, unit_code: str, deadline: date, today: date, reminder_days: Sequence[int]
) -> ScheduledNotice | None:
    """The reminder a not-yet-achieved target is due for today: 180, 90, 30 days before its deadline."""
    latest = _latest_reached(deadline, today, reminder_days)
    if latest is None:
        return None
    offset, earlier = latest
    prefix = f"target:{target_id}:{unit_code}:before:"
    return ScheduledNotice(
        prefix + str(offset), "target_deadline", (deadline - today).days, tuple(prefix + str(d) for d in earlier)
    )


def re_remind_key(alert_id: uuid.UUID, opened_on: date, today: date, every_days: int) -> str | None:
    """An open, unacknowledged target alert is sent again every `every_days` days: one key per period."""
    period = (today - opened_on).days // every_days
    return f"alert:{alert_id}:remind:{period}" if period >= 1 else None
