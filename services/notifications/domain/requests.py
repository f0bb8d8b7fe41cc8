"""Ad-hoc report requests [yêu cầu báo cáo đột xuất]: one deadline per requested agency, announced at once.

Who may request: the reporting authority (SNN, to whom every report goes) and operators may request from any
agency; any other agency only from itself (a self-set deadline with the same reminders).

`Idempotency-Key`: the request's id is derived from (caller's agency, key), so a retry finds the first
request and returns it; the same key with another body is refused (422). A transaction-scoped advisory lock
on the id makes two concurrent retries create once.

`create_request` is the whole use case: it opens and owns the transaction.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.db.models import Agency, Deadline, ReportRequest
from services.notifications.domain.access import may_oversee
from services.notifications.domain.alerts import Alerts
from services.notifications.domain.calendar import AD_HOC, reached_reminder_keys
from services.notifications.domain.deadlines import DeadlineView, announce, claim, deadline_views
from services.notifications.domain.run import Run
from shared.auth import Principal
from shared.errors import Forbidden, ValidationFailed

_IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0e8a3c-7a43-4f34-9a55-219e0c4d2a19")


@dataclass(frozen=True)
class RequestInput:
    title: str
    agencies: list[str]
    due_on: date


@dataclass(frozen=True)
class Created:
    request: ReportRequest
    deadlines: list[DeadlineView]
    replayed: bool


async def create_request(
    sessionmaker: async_sessionmaker[AsyncSession],
    alerts: Alerts,
    principal: Principal,
    data: RequestInput,
    *,
    today: date,
    now: datetime,
    authority: str,
    reminder_days: list[int],
    idempotency_key: str | None = None,
) -> Created:
    """Validate, then create the request, its deadlines and their opening alerts in one transaction."""
    async with sessionmaker() as session, session.begin():
        request, deadlines, replayed = await _create_in(
            session, alerts, principal, data, today, now, authority, reminder_days, idempotency_key
        )
        views = await deadline_views(session, deadlines, today, max(reminder_days))
    return Created(request, views, replayed=replayed)


async def _create_in(
    session: AsyncSession,
    alerts: Alerts,
    principal: Principal,
    data: RequestInput,
    today: date,
    now: datetime,
    authority: str,
    reminder_days: list[int],
    idempotency_key: str | None,
) -> tuple[ReportRequest, list[Deadline], bool]:
    """The request (or the one this key created before), its deadlines by agency, and whether it is a replay."""
    request_id = uuid.uuid4()
    if idempotency_key is not None:
        request_id = uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{principal.agency}|{idempotency_key}")
        await session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(request_id.bytes))))
        previous = await session.get(ReportRequest, request_id)
        if previous is not None:
            if (previous.title, list(previous.agencies), previous.due_on) != (data.title, data.agencies, data.due_on):
                raise ValidationFailed(
                    "Idempotency-Key đã dùng cho một yêu cầu khác (this key was used with a different body)",
                    errors=[{"field": "header.Idempotency-Key", "message": "reused with a different request body"}],
                )
            found = await session.scalars(
                select(Deadline).where(Deadline.request_id == request_id).order_by(Deadline.agency_code)
            )
            return previous, list(found), True
    await _validate(session, principal, data, today, authority)
    request = ReportRequest(
        id=request_id,
        title=data.title,
        agencies=list(data.agencies),
        due_on=data.due_on,
        created_by=principal.subject,
        created_by_agency=principal.agency,
        created_at=now,
    )
    session.add(request)
    await session.flush()
    run = Run(session)
    deadlines = []
    for code in data.agencies:
        deadline = Deadline(
            id=uuid.uuid4(),
            agency_code=code,
            kind=AD_HOC,
            period=str(request.id),
            due_on=data.due_on,
            request_id=request.id,
            created_at=now,
        )
        session.add(deadline)
        await session.flush()
        # Reminders whose day has already come are covered by this announcement: claim them silently.
        await claim(session, reached_reminder_keys(deadline.id, data.due_on, today, reminder_days), now)
        await announce(run, alerts, deadline, "deadline_requested", (data.due_on - today).days, now, authority)
        deadlines.append(deadline)
    await run.write()
    return request, sorted(deadlines, key=lambda d: d.agency_code), False


async def _validate(
    session: AsyncSession, principal: Principal, data: RequestInput, today: date, authority: str
) -> None:
    others = sorted(set(data.agencies) - {principal.agency})
    if others and not may_oversee(principal, authority):
        raise Forbidden(
            f"Chỉ {authority} hoặc người vận hành được yêu cầu cơ quan khác báo cáo (only {authority} or an operator "
            "may request reports from other agencies)",
            errors=[{"field": "agencies", "message": f"not allowed: {', '.join(others)}"}],
        )
    errors = []
    if data.due_on < today:
        errors.append({"field": "due_on", "message": f"must not be before today ({today.strftime('%d/%m/%Y')})"})
    known = set((await session.scalars(select(Agency.code).where(Agency.code.in_(data.agencies), Agency.active))).all())
    seen: set[str] = set()
    for i, code in enumerate(data.agencies):
        if code in seen:
            errors.append({"field": f"agencies.{i}", "message": f"{code!r} is listed twice"})
        elif code not in known:
            errors.append({"field": f"agencies.{i}", "message": f"{code!r} is not a known, active agency"})
        seen.add(code)
    if errors:
        raise ValidationFailed(
            "Yêu cầu báo cáo không hợp lệ (invalid report request): " + ", ".join(e["field"] for e in errors),
            errors=errors,
        )
