"""Reporting deadlines [hạn báo cáo] in the database: obligations, ad-hoc requests, submissions, notices.

Obligations are created lazily (by the scheduler and when an agency arrives) for the current and next year,
idempotently: `uq_deadlines_obligation` on (agency, kind, period) makes a second run a no-op. One alert
follows a deadline from its first reminder to its submission (dedup key `deadline|<id>|<agency>`): it opens
as `deadline_reminder`, becomes `deadline_overdue` when the date passes, and is resolved by the submission.

`list_deadlines` is the read behind `GET /v1/deadlines`: each deadline with its state as of today.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.db.models import Agency, Alert, Deadline, ReportRequest, ScheduledSend
from services.notifications.domain.access import may_oversee, require_act_for
from services.notifications.domain.alerts import RESOLVED, SYSTEM, AlertDraft, Alerts
from services.notifications.domain.calendar import (
    AD_HOC,
    DUE,
    MET,
    MET_LATE,
    OVERDUE,
    REPORTING_AGENCY_KINDS,
    UPCOMING,
    obligation_for,
    obligations,
    state_of,
)
from services.notifications.domain.run import Run
from shared.auth import Principal
from shared.events.contracts import ReportSubmissionV1
from shared.pagination import decode_cursor, encode_cursor

log = logging.getLogger(__name__)

DEADLINE_REMINDER, DEADLINE_OVERDUE = "deadline_reminder", "deadline_overdue"
OBLIGATION_KEY = [Deadline.agency_code, Deadline.kind, Deadline.period]  # uq_deadlines_obligation
SORT = "due_on_asc"


def alert_key(deadline: Deadline) -> str:
    return f"deadline|{deadline.id}|{deadline.agency_code}"


async def claim(session: AsyncSession, keys: list[str] | tuple[str, ...], now: datetime) -> set[str]:
    """Claim scheduled-send keys in the caller's transaction; returns those nobody had claimed before."""
    if not keys:
        return set()
    stmt = insert(ScheduledSend).values([{"key": k, "sent_at": now} for k in keys]).on_conflict_do_nothing()
    return set((await session.scalars(stmt.returning(ScheduledSend.key))).all())


async def ensure_obligations(
    session: AsyncSession, today: date, now: datetime, *, agency_code: str | None = None
) -> int:
    """Semi-annual and annual obligations of this and next year for every active reporting agency.

    An obligation whose due date has already passed when it would be created is not created: the system
    cannot know of a report handed in before it (or the agency) existed, and must not chase it.
    """
    # Ordered, so two replicas inserting the same rows take their index locks in one order (no deadlock).
    query = select(Agency.code).where(Agency.active, Agency.kind.in_(REPORTING_AGENCY_KINDS)).order_by(Agency.code)
    if agency_code is not None:
        query = query.where(Agency.code == agency_code)
    codes = list((await session.scalars(query)).all())
    rows = [
        {
            "id": uuid.uuid4(),
            "agency_code": code,
            "kind": o.kind,
            "period": o.period,
            "due_on": o.due_on,
            "created_at": now,
        }
        for code in codes
        for year in (today.year, today.year + 1)
        for o in obligations(year)
        if o.due_on >= today
    ]
    if not rows:
        return 0
    stmt = insert(Deadline).values(rows).on_conflict_do_nothing(index_elements=OBLIGATION_KEY)
    result = await session.execute(stmt.returning(Deadline.id))
    return len(result.all())


async def deadline_data(session: AsyncSession, deadline: Deadline, authority: str) -> dict[str, Any]:
    """What a deadline's messages are made of."""
    data: dict[str, Any] = {
        "deadline_id": str(deadline.id),
        "agency_code": deadline.agency_code,
        "report_kind": deadline.kind,
        "period": deadline.period,
        "due_on": deadline.due_on.isoformat(),
        "authority": await session.scalar(select(Agency.name).where(Agency.code == authority)) or authority,
    }
    if deadline.request_id is not None:
        data["request_id"] = str(deadline.request_id)
        data["request_title"] = await session.scalar(
            select(ReportRequest.title).where(ReportRequest.id == deadline.request_id)
        )
    return data


async def announce(
    run: Run,
    alerts: Alerts,
    deadline: Deadline,
    template: str,
    days_left: int,
    now: datetime,
    authority: str,
) -> Alert:
    """Open the deadline's alert or re-send it: a reminder, the move to overdue, or a weekly overdue repeat."""
    kind = DEADLINE_OVERDUE if template == "deadline_overdue" else DEADLINE_REMINDER
    session = run.session
    data = await deadline_data(session, deadline, authority)
    data.update(template=template, days_left=days_left, days_overdue=max(0, -days_left))
    severity = "critical" if kind == DEADLINE_OVERDUE else ("warning" if days_left <= 7 else "info")
    previous = await session.scalar(
        select(Alert.kind).where(Alert.dedup_key == alert_key(deadline), Alert.state != RESOLVED)
    )
    draft = AlertDraft(
        dedup_key=alert_key(deadline),
        kind=kind,
        role="owner",
        agency_code=deadline.agency_code,
        severity=severity,
        data=data,
        deadline_id=deadline.id,
    )
    notice = "updated" if previous is not None and previous != kind else "reminder"
    alert, _ = await alerts.raise_alert(run, draft, now, repeat_notice=notice)
    return alert


async def close_by_submission(
    session: AsyncSession, alerts: Alerts, event: ReportSubmissionV1, now: datetime, authority: str
) -> Deadline | None:
    """A submission closes its deadline (late or not) and resolves the deadline's open alert."""
    if event.kind.value == AD_HOC:
        period = str(event.request_id) if event.request_id is not None else event.period
        deadline = await _locked(session, event.agency_code, AD_HOC, period)
        if deadline is None:
            log.info("submission for an unknown ad-hoc request", extra={"agency": event.agency_code, "period": period})
            return None
    else:
        obligation = obligation_for(event.kind.value, event.period)
        if obligation is None:
            log.info("submission for no known period", extra={"agency": event.agency_code, "period": event.period})
            return None
        # The submission may arrive before the obligation was generated (events of two topics, or a replay):
        # record the obligation so that its later generation finds it met.
        await session.execute(
            insert(Deadline)
            .values(
                id=uuid.uuid4(),
                agency_code=event.agency_code,
                kind=obligation.kind,
                period=obligation.period,
                due_on=obligation.due_on,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=OBLIGATION_KEY)
        )
        deadline = await _locked(session, event.agency_code, obligation.kind, obligation.period)
        assert deadline is not None
    if deadline.submitted_on is not None and deadline.submitted_on <= event.submitted_on:
        return deadline  # already closed by an earlier (or the same) submission
    deadline.submitted_on, deadline.submission_id = event.submitted_on, event.submission_id
    days_late = max(0, (event.submitted_on - deadline.due_on).days)
    open_alerts = await session.scalars(
        select(Alert).where(Alert.deadline_id == deadline.id, Alert.state != RESOLVED).with_for_update()
    )
    run = Run(session)
    for alert in open_alerts.all():
        await alerts.resolve(
            run,
            alert,
            SYSTEM,
            now,
            template="deadline_met",
            submitted_on=event.submitted_on.isoformat(),
            days_late=days_late,
            submission_id=str(event.submission_id),
        )
    await run.write()
    return deadline


async def _locked(session: AsyncSession, agency_code: str, kind: str, period: str) -> Deadline | None:
    return await session.scalar(
        select(Deadline)
        .where(Deadline.agency_code == agency_code, Deadline.kind == kind, Deadline.period == period)
        .with_for_update()
    )


@dataclass(frozen=True)
class DeadlineView:
    """A deadline as an agency sees it: its state as of today, and the ad-hoc request's title if it has one."""

    deadline: Deadline
    state: str
    request_title: str | None


@dataclass(frozen=True)
class DeadlineFilter:
    """What a list of deadlines narrows to; `agency` None means the caller's own (every agency for an overseer)."""

    agency: str | None = None
    period: str | None = None
    state: str | None = None


def state_filter(state: str, today: date, window: int) -> ColumnElement[bool]:
    """The SQL form of calendar.state_of (kept side by side with it; tests check they agree)."""
    submitted, due_on = Deadline.submitted_on, Deadline.due_on
    return {
        MET: and_(submitted.is_not(None), submitted <= due_on),
        MET_LATE: and_(submitted.is_not(None), submitted > due_on),
        OVERDUE: and_(submitted.is_(None), due_on < today),
        DUE: and_(submitted.is_(None), due_on >= today, due_on <= today + timedelta(days=window)),
        UPCOMING: and_(submitted.is_(None), due_on > today + timedelta(days=window)),
    }[state]


async def deadline_views(session: AsyncSession, rows: list[Deadline], today: date, window: int) -> list[DeadlineView]:
    """The rows with their states, and the titles of their requests in one query."""
    request_ids = {r.request_id for r in rows if r.request_id is not None}
    titles: dict[uuid.UUID, str] = {}
    if request_ids:
        found = await session.execute(
            select(ReportRequest.id, ReportRequest.title).where(ReportRequest.id.in_(request_ids))
        )
        titles = {i: t for i, t in found.all()}
    return [
        DeadlineView(
            deadline=d,
            state=state_of(d.due_on, d.submitted_on, today, window),
            request_title=titles.get(d.request_id) if d.request_id else None,
        )
        for d in rows
    ]


async def list_deadlines(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    wanted: DeadlineFilter,
    *,
    today: date,
    window: int,
    authority: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[DeadlineView], str | None]:
    """Earliest first; an agency sees its own, the reporting authority and operators every agency's."""
    agency = wanted.agency
    oversees = may_oversee(principal, authority)
    if agency is None and not oversees:
        agency = principal.agency
    if agency is not None and not oversees:
        require_act_for(principal, agency, field="query.agency")
    query = select(Deadline)
    if agency is not None:
        query = query.where(Deadline.agency_code == agency)
    if wanted.period is not None:
        query = query.where(Deadline.period == wanted.period)
    if wanted.state is not None:
        query = query.where(state_filter(wanted.state, today, window))
    if cursor:
        on, after = decode_cursor(cursor, SORT, lambda value: date.fromisoformat(str(value)))
        query = query.where(or_(Deadline.due_on > on, and_(Deadline.due_on == on, Deadline.id > after)))
    query = query.order_by(Deadline.due_on, Deadline.id).limit(limit + 1)
    async with sessionmaker() as session:
        rows = list((await session.scalars(query)).all())
        more, rows = len(rows) > limit, rows[:limit]
        views = await deadline_views(session, rows, today, window)
    next_cursor = encode_cursor(SORT, rows[-1].due_on.isoformat(), str(rows[-1].id)) if more and rows else None
    return views, next_cursor
