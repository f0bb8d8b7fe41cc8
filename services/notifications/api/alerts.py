"""`/v1/alerts`: list (an agency its own, an operator all), read, acknowledge, resolve."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Header, Query, Response
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.api.alert_schemas import TARGET_CODE, AlertKind, AlertOut, AlertState
from services.notifications.db.models import Alert
from services.notifications.domain.access import READ, WRITE, is_operator, may_act_for, require_act_for
from services.notifications.domain.alerts import ACKNOWLEDGED, Alerts, check_version, etag_of
from services.notifications.domain.run import Run
from shared.auth import Principal, require_scope
from shared.errors import NotFound
from shared.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, decode_cursor, encode_cursor
from shared.service import Runtime, get_runtime
from shared.text import AGENCY_CODE, DIGITS

router = APIRouter(prefix="/alerts", tags=["alerts"])
SORT = "opened_at_desc"
PROBLEMS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid bearer token"},
    403: {"description": "Missing scope, or (list) another agency named in `agency`"},
    404: {"description": "No such alert, or another agency's alert"},
}


def who(principal: Principal) -> str:
    return f"{principal.agency}/{principal.subject}"


@router.get("", response_model=Page[AlertOut], summary="Cảnh báo (alerts), newest first", responses=PROBLEMS)
async def list_alerts(
    agency: str | None = Query(
        None, max_length=30, pattern=AGENCY_CODE, examples=["SCT"], description="Default: the caller's agency"
    ),
    state: AlertState | None = Query(None, examples=["open"]),
    kind: AlertKind | None = Query(None, examples=["target_risk"]),
    unit: str | None = Query(None, max_length=20, pattern=DIGITS, examples=["926"]),
    target: str | None = Query(
        None, max_length=40, pattern=TARGET_CODE, examples=["II.2.e"], description="Target code"
    ),
    limit: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
    cursor: str | None = Query(None, max_length=300),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(READ)),
) -> Page[AlertOut]:
    if agency is None and not is_operator(principal):
        agency = principal.agency
    if agency is not None:
        require_act_for(principal, agency, field="query.agency")
    query = select(Alert)
    for column, value in (
        (Alert.agency_code, agency),
        (Alert.state, state),
        (Alert.kind, kind),
        (Alert.unit_code, unit),
        (Alert.target_code, target),
    ):
        if value is not None:
            query = query.where(column == value)
    if cursor:
        at, after = decode_cursor(cursor, SORT, lambda value: datetime.fromisoformat(str(value)))
        query = query.where(or_(Alert.opened_at < at, and_(Alert.opened_at == at, Alert.id < after)))
    query = query.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit + 1)
    async with runtime.sessionmaker() as session:
        rows = list((await session.scalars(query)).all())
    more, rows = len(rows) > limit, rows[:limit]
    next_cursor = encode_cursor(SORT, rows[-1].opened_at.isoformat(), str(rows[-1].id)) if more and rows else None
    return Page[AlertOut](items=[AlertOut.model_validate(r) for r in rows], next_cursor=next_cursor)


async def _own_alert(session: AsyncSession, principal: Principal, alert_id: uuid.UUID, *, lock: bool) -> Alert:
    query = select(Alert).where(Alert.id == alert_id)
    alert = await session.scalar(query.with_for_update() if lock else query)
    if alert is None or not may_act_for(principal, alert.agency_code):
        # Another agency's alert is "not found", as in the inbox: an id reveals nothing about other agencies.
        raise NotFound(f"Không tìm thấy cảnh báo '{alert_id}' (alert not found)")
    return alert


@router.get(
    "/{alert_id}", response_model=AlertOut, summary="Một cảnh báo (one alert), with its ETag", responses=PROBLEMS
)
async def get_alert(
    alert_id: uuid.UUID,
    response: Response,
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(READ)),
) -> AlertOut:
    async with runtime.sessionmaker() as session:
        alert = await _own_alert(session, principal, alert_id, lock=False)
    response.headers["ETag"] = etag_of(alert)
    return AlertOut.model_validate(alert)


IF_MATCH = Header(None, alias="If-Match", description="Optional: the ETag you read; 412 if the alert changed since")


@router.post(
    "/{alert_id}/acknowledge",
    response_model=AlertOut,
    summary="Xác nhận đã biết (acknowledge): stops re-reminders; repeating it changes nothing",
    responses={**PROBLEMS, 409: {"description": "Already resolved"}, 412: {"description": "Stale If-Match"}},
)
async def acknowledge(
    alert_id: uuid.UUID,
    response: Response,
    if_match: str | None = IF_MATCH,
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(WRITE)),
) -> AlertOut:
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session, session.begin():
        alert = await _own_alert(session, principal, alert_id, lock=True)
        check_version(alert, if_match)
        if alert.state != ACKNOWLEDGED:  # a retried acknowledge is a no-op, not an error
            run = Run(session)
            await Alerts(runtime.outbox).acknowledge(run, alert, who(principal), now)
            await run.write()
    response.headers["ETag"] = etag_of(alert)
    return AlertOut.model_validate(alert)


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertOut,
    summary="Đóng cảnh báo (resolve). A deadline alert opens again at its next notice while the report is missing",
    responses={**PROBLEMS, 409: {"description": "Already resolved"}, 412: {"description": "Stale If-Match"}},
)
async def resolve(
    alert_id: uuid.UUID,
    response: Response,
    if_match: str | None = IF_MATCH,
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(WRITE)),
) -> AlertOut:
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session, session.begin():
        alert = await _own_alert(session, principal, alert_id, lock=True)
        check_version(alert, if_match)
        run = Run(session)
        await Alerts(runtime.outbox).resolve(run, alert, who(principal), now, resolution="manual")
        await run.write()
    response.headers["ETag"] = etag_of(alert)
    return AlertOut.model_validate(alert)
