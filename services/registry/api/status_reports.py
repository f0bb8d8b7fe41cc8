"""`/v1/cooperatives/{id}/status-reports`: the periodic status reports of a cooperative.

Adding one is the system's hot path (every report is an event the indicators and the alerts follow), so its
router is tried first and its handler reads its own input (`shared.request_input`) instead of having FastAPI
bind five parameters on every request: docs/performance.md, fix 31. What the operation accepts is documented
by hand (`openapi_extra`), exactly as FastAPI would write it for the declared parameters; a test holds the two
to the same document.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request

from services.registry.api.cooperatives import IDEMPOTENCY, IDEMPOTENCY_KEY_DESCRIPTION, PROBLEMS, READ, WRITE, respond
from services.registry.api.dependencies import Registry, get_registry
from services.registry.api.schemas import StatusReportOut, render_report
from services.registry.domain.idempotency import IdempotencyKey
from services.registry.domain.inputs import StatusReportCreate
from shared.auth import Principal
from shared.jsoncodec import JSONBody
from shared.openapi import header_parameter, json_request_body, uuid_path_parameter
from shared.pagination import MAX_PAGE_SIZE
from shared.request_input import read_input

router = APIRouter(prefix="/cooperatives", tags=["cooperatives"])


@router.post(
    "/{cooperative_id:uuid}/status-reports",
    status_code=201,
    response_model=StatusReportOut,
    summary="Báo cáo tình hình HTX (add a status report)",
    responses={404: {}, **PROBLEMS},
    openapi_extra={
        "parameters": [
            uuid_path_parameter("cooperative_id"),
            header_parameter(
                IDEMPOTENCY.name,
                IDEMPOTENCY_KEY_DESCRIPTION,
                min_length=IDEMPOTENCY.min_length,
                max_length=IDEMPOTENCY.max_length,
            ),
        ],
        "requestBody": json_request_body(StatusReportCreate),
    },
)
async def create_status_report(request: Request) -> JSONBody:
    cooperative_id: uuid.UUID = request.path_params["cooperative_id"]  # a UUID already: the path's convertor
    principal = await WRITE(request)
    data, headers = await read_input(request, StatusReportCreate, (IDEMPOTENCY,))
    idempotency_key = headers[IDEMPOTENCY.name]
    idem = (
        IdempotencyKey.of(
            principal.agency,
            idempotency_key,
            f"POST /cooperatives/{cooperative_id}/status-reports",
            data.model_dump(mode="json"),
        )
        if idempotency_key is not None  # the body's hash only when there is a key to keep it under
        else None
    )
    registry = await get_registry(request)
    outcome = await registry.cooperatives.report_status(principal, cooperative_id, data, idem, render_report)
    return respond(outcome)


@router.get(
    "/{cooperative_id:uuid}/status-reports", response_model=list[StatusReportOut], responses={404: {}, **PROBLEMS}
)
async def list_status_reports(
    cooperative_id: uuid.UUID,
    limit: int = Query(MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Newest first"),
    registry: Registry = Depends(get_registry),
    _: Principal = Depends(READ),
) -> list[StatusReportOut]:
    return [StatusReportOut.model_validate(r) for r in await registry.cooperatives.reports(cooperative_id, limit)]
