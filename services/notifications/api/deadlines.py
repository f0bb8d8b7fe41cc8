"""`/v1/deadlines` (reporting obligations and their state) and `/v1/report-requests` (ad-hoc requests)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from fastapi import APIRouter, Depends, Header, Query
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.api.alert_schemas import DeadlineOut, DeadlineState, ReportRequestIn, ReportRequestOut
from services.notifications.db.models import Deadline, ReportRequest
from services.notifications.domain.access import READ, WRITE, may_oversee, require_act_for
from services.notifications.domain.alerts import Alerts
from services.notifications.domain.calendar import DUE, MET, MET_LATE, OVERDUE, UPCOMING, state_of
from services.notifications.domain.requests import RequestInput, create_request
from services.notifications.settings import settings_of
from shared.auth import Principal, require_scope
from shared.jsoncodec import JSONBody
from shared.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, decode_cursor, encode_cursor
from shared.service import Runtime, get_runtime
from shared.text import AGENCY_CODE, NO_CONTROL_CHARACTERS

router = APIRouter(tags=["deadlines"])
SORT = "due_on_asc"
PROBLEMS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid bearer token"},
    403: {"description": "Missing scope, or another agency's deadlines"},
    422: {"description": "Invalid input; each error names its field"},
}


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


async def render_deadlines(session: AsyncSession, rows: list[Deadline], today: date, window: int) -> list[DeadlineOut]:
    request_ids = {r.request_id for r in rows if r.request_id is not None}
    titles: dict[uuid.UUID, str] = {}
    if request_ids:
        found = await session.execute(
            select(ReportRequest.id, ReportRequest.title).where(ReportRequest.id.in_(request_ids))
        )
        titles = {i: t for i, t in found.all()}
    return [
        DeadlineOut(
            id=d.id,
            agency_code=d.agency_code,
            kind=d.kind,
            period=d.period,
            due_on=d.due_on,
            state=state_of(d.due_on, d.submitted_on, today, window),
            submitted_on=d.submitted_on,
            submission_id=d.submission_id,
            request_id=d.request_id,
            request_title=titles.get(d.request_id) if d.request_id else None,
            created_at=d.created_at,
        )
        for d in rows
    ]


@router.get(
    "/deadlines",
    response_model=Page[DeadlineOut],
    summary="Hạn báo cáo (reporting deadlines), earliest first",
    description="An agency sees its own; the reporting authority (SNN) and operators see every agency's.",
    responses=PROBLEMS,
)
async def list_deadlines(
    agency: str | None = Query(None, max_length=30, pattern=AGENCY_CODE, examples=["UBND-926"]),
    period: str | None = Query(
        None,
        max_length=40,
        pattern=NO_CONTROL_CHARACTERS,
        examples=["2025-H1"],
        description="2025-H1, 2025, or an ad-hoc request's id",
    ),
    state: DeadlineState | None = Query(None, examples=["overdue"]),
    limit: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
    cursor: str | None = Query(None, max_length=300),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(READ)),
) -> Page[DeadlineOut]:
    settings = settings_of(runtime)
    oversees = may_oversee(principal, settings.reporting_authority)
    if agency is None and not oversees:
        agency = principal.agency
    if agency is not None and not oversees:
        require_act_for(principal, agency, field="query.agency")
    today, window = runtime.clock.today(), max(settings.reminder_days)
    query = select(Deadline)
    if agency is not None:
        query = query.where(Deadline.agency_code == agency)
    if period is not None:
        query = query.where(Deadline.period == period)
    if state is not None:
        query = query.where(state_filter(state, today, window))
    if cursor:
        on, after = decode_cursor(cursor, SORT, lambda value: date.fromisoformat(str(value)))
        query = query.where(or_(Deadline.due_on > on, and_(Deadline.due_on == on, Deadline.id > after)))
    query = query.order_by(Deadline.due_on, Deadline.id).limit(limit + 1)
    async with runtime.sessionmaker() as session:
        rows = list((await session.scalars(query)).all())
        more, rows = len(rows) > limit, rows[:limit]
        items = await render_deadlines(session, rows, today, window)
    next_cursor = encode_cursor(SORT, rows[-1].due_on.isoformat(), str(rows[-1].id)) if more and rows else None
    return Page[DeadlineOut](items=items, next_cursor=next_cursor)


@router.post(
    "/report-requests",
    status_code=201,
    response_model=ReportRequestOut,
    summary="Yêu cầu báo cáo đột xuất (request an ad-hoc report): one deadline per agency, announced at once",
    description=(
        "SNN (the reporting authority) and operators may request from any agency; another agency only from "
        "itself. Send an `Idempotency-Key` to make retries safe."
    ),
    responses={**PROBLEMS, 201: {"headers": {"Idempotent-Replayed": {"description": "true on a replayed retry"}}}},
)
async def create_report_request(
    data: ReportRequestIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", min_length=8, max_length=200),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(WRITE)),
) -> JSONBody:
    settings = settings_of(runtime)
    today, now = runtime.clock.today(), runtime.clock.now()
    async with runtime.sessionmaker() as session, session.begin():
        created = await create_request(
            session,
            Alerts(runtime.outbox),
            principal,
            RequestInput(title=data.title, agencies=data.agencies, due_on=data.due_on),
            today=today,
            now=now,
            authority=settings.reporting_authority,
            reminder_days=settings.reminder_days,
            idempotency_key=idempotency_key,
        )
        r = created.request
        body = ReportRequestOut(
            id=r.id,
            title=r.title,
            agencies=list(r.agencies),
            due_on=r.due_on,
            created_by=r.created_by,
            created_by_agency=r.created_by_agency,
            created_at=r.created_at,
            deadlines=await render_deadlines(session, created.deadlines, today, max(settings.reminder_days)),
        )
    headers = {"Idempotent-Replayed": "true"} if created.replayed else {}
    return JSONBody(body.model_dump(mode="json"), status_code=201, headers=headers)
