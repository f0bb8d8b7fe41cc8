"""`/v1/deadlines` (reporting obligations and their state) and `/v1/report-requests` (ad-hoc requests)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Query

from services.notifications.api.alert_schemas import DeadlineOut, DeadlineState, ReportRequestIn, ReportRequestOut
from services.notifications.api.limits import NOTIFY
from services.notifications.domain import deadlines
from services.notifications.domain.access import READ
from services.notifications.domain.alerts import Alerts
from services.notifications.domain.deadlines import DeadlineFilter, DeadlineView
from services.notifications.domain.requests import RequestInput, create_request
from services.notifications.settings import settings_of
from shared.auth import Principal, require_scope
from shared.jsoncodec import JSONBody
from shared.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from shared.ratelimit import RATE_LIMITED
from shared.service import Runtime, get_runtime
from shared.text import AGENCY_CODE, NO_CONTROL_CHARACTERS

router = APIRouter(tags=["deadlines"])
PROBLEMS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid bearer token"},
    403: {"description": "Missing scope, or another agency's deadlines"},
    422: {"description": "Invalid input; each error names its field"},
}


def render(view: DeadlineView) -> DeadlineOut:
    d = view.deadline
    return DeadlineOut(
        id=d.id,
        agency_code=d.agency_code,
        kind=d.kind,
        period=d.period,
        due_on=d.due_on,
        state=view.state,
        submitted_on=d.submitted_on,
        submission_id=d.submission_id,
        request_id=d.request_id,
        request_title=view.request_title,
        created_at=d.created_at,
    )


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
    views, next_cursor = await deadlines.list_deadlines(
        runtime.sessionmaker,
        principal,
        DeadlineFilter(agency=agency, period=period, state=state),
        today=runtime.clock.today(),
        window=max(settings.reminder_days),
        authority=settings.reporting_authority,
        limit=limit,
        cursor=cursor,
    )
    return Page[DeadlineOut](items=[render(v) for v in views], next_cursor=next_cursor)


@router.post(
    "/report-requests",
    status_code=201,
    response_model=ReportRequestOut,
    summary="Yêu cầu báo cáo đột xuất (request an ad-hoc report): one deadline per agency, announced at once",
    description=(
        "SNN (the reporting authority) and operators may request from any agency; another agency only from "
        "itself. Send an `Idempotency-Key` to make retries safe."
    ),
    responses={
        **PROBLEMS,
        **RATE_LIMITED,
        201: {"headers": {"Idempotent-Replayed": {"description": "true on a replayed retry"}}},
    },
)
async def create_report_request(
    data: ReportRequestIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", min_length=8, max_length=200),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(NOTIFY),
) -> JSONBody:
    settings = settings_of(runtime)
    created = await create_request(
        runtime.sessionmaker,
        Alerts(runtime.outbox),
        principal,
        RequestInput(title=data.title, agencies=data.agencies, due_on=data.due_on),
        today=runtime.clock.today(),
        now=runtime.clock.now(),
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
        deadlines=[render(v) for v in created.deadlines],
    )
    headers = {"Idempotent-Replayed": "true"} if created.replayed else {}
    return JSONBody(body.model_dump(mode="json"), status_code=201, headers=headers)
