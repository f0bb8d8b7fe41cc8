"""`/v1/alerts`: list and read (an agency its own; the reporting authority and operators every agency's),
acknowledge and resolve (an agency its own, an operator any)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Header, Query, Response

from services.notifications.api.alert_schemas import TARGET_CODE, AlertKind, AlertOut, AlertState
from services.notifications.domain.access import READ, WRITE
from services.notifications.domain.alerts import AlertFilter, AlertService, etag_of
from services.notifications.settings import settings_of
from shared.auth import Principal, require_scope
from shared.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from shared.service import Runtime, get_runtime
from shared.text import AGENCY_CODE, DIGITS

router = APIRouter(prefix="/alerts", tags=["alerts"])
PROBLEMS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid bearer token"},
    403: {
        "description": "Missing scope, or (list) another agency named in `agency` by a caller that is neither "
        "that agency, the reporting authority nor an operator"
    },
    404: {"description": "No such alert, or another agency's alert"},
}


def alert_service(runtime: Runtime = Depends(get_runtime)) -> AlertService:
    authority = settings_of(runtime).reporting_authority
    return AlertService(runtime.sessionmaker, runtime.outbox, runtime.clock, authority=authority)


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
    service: AlertService = Depends(alert_service),
    principal: Principal = Depends(require_scope(READ)),
) -> Page[AlertOut]:
    wanted = AlertFilter(agency=agency, state=state, kind=kind, unit_code=unit, target_code=target)
    rows, next_cursor = await service.page(principal, wanted, limit=limit, cursor=cursor)
    return Page[AlertOut](items=[AlertOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{alert_id}", response_model=AlertOut, summary="Một cảnh báo (one alert), with its ETag", responses=PROBLEMS
)
async def get_alert(
    alert_id: uuid.UUID,
    response: Response,
    service: AlertService = Depends(alert_service),
    principal: Principal = Depends(require_scope(READ)),
) -> AlertOut:
    alert = await service.get(principal, alert_id)
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
    service: AlertService = Depends(alert_service),
    principal: Principal = Depends(require_scope(WRITE)),
) -> AlertOut:
    alert = await service.acknowledge(principal, alert_id, if_match)
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
    service: AlertService = Depends(alert_service),
    principal: Principal = Depends(require_scope(WRITE)),
) -> AlertOut:
    alert = await service.resolve(principal, alert_id, if_match)
    response.headers["ETag"] = etag_of(alert)
    return AlertOut.model_validate(alert)
