"""`/v1/cooperatives/{id}/status-reports`: the periodic status reports of a cooperative."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Response

from services.registry.api.cooperatives import PROBLEMS, READ, IdempotencyHeader, mark_replayed
from services.registry.api.dependencies import WRITE, Registry, get_registry
from services.registry.api.schemas import StatusReportOut
from services.registry.db.models import StatusReport
from services.registry.domain.idempotency import IdempotencyKey
from services.registry.domain.inputs import StatusReportCreate
from shared.auth import Principal
from shared.pagination import MAX_PAGE_SIZE
from shared.ratelimit import RATE_LIMITED

router = APIRouter(prefix="/cooperatives", tags=["cooperatives"])


@router.post(
    "/{cooperative_id:uuid}/status-reports",
    status_code=201,
    response_model=StatusReportOut,
    summary="Báo cáo tình hình HTX (add a status report)",
    responses={
        404: {},
        409: {"description": "The cooperative kept changing while the report was written"},
        **PROBLEMS,
        **RATE_LIMITED,
    },
)
async def create_status_report(
    cooperative_id: uuid.UUID,
    data: StatusReportCreate,
    response: Response,
    idempotency_key: str | None = IdempotencyHeader,
    registry: Registry = Depends(get_registry),
    principal: Principal = Depends(WRITE),
) -> StatusReport:
    endpoint = f"POST /cooperatives/{cooperative_id}/status-reports"
    idem = IdempotencyKey.of(principal.agency, idempotency_key, endpoint, data.model_dump(mode="json"))
    created = await registry.status_reports.report(principal, cooperative_id, data, idem)
    mark_replayed(response, created)
    return created.resource  # rendered by the response model


@router.get(
    "/{cooperative_id:uuid}/status-reports", response_model=list[StatusReportOut], responses={404: {}, **PROBLEMS}
)
async def list_status_reports(
    cooperative_id: uuid.UUID,
    limit: int = Query(MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Newest first"),
    registry: Registry = Depends(get_registry),
    _: Principal = Depends(READ),
) -> list[StatusReportOut]:
    return [StatusReportOut.model_validate(r) for r in await registry.status_reports.history(cooperative_id, limit)]
