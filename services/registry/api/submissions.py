"""`/v1/report-submissions`: agencies file their periodic reports (closes their deadline downstream)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Response

from services.registry.api.cooperatives import IdempotencyHeader, mark_replayed
from services.registry.api.dependencies import WRITE, Registry, get_registry
from services.registry.api.schemas import SubmissionOut
from services.registry.db.submissions import SubmissionRepository
from services.registry.domain.idempotency import IdempotencyKey
from services.registry.domain.inputs import ReportSubmissionCreate
from shared.auth import Principal, require_scope
from shared.events.contracts import ReportKind
from shared.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from shared.ratelimit import RATE_LIMITED
from shared.text import NO_CONTROL_CHARACTERS

router = APIRouter(prefix="/report-submissions", tags=["report submissions"])


@router.get("", response_model=Page[SubmissionOut], summary="Báo cáo đã nộp (submitted reports)")
async def list_submissions(
    agency: str | None = Query(None, max_length=30, pattern=NO_CONTROL_CHARACTERS, examples=["UBND-926"]),
    kind: ReportKind | None = None,
    period: str | None = Query(None, max_length=40, pattern=NO_CONTROL_CHARACTERS, examples=["2025-H1"]),
    limit: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
    cursor: uuid.UUID | None = Query(None, description="The id of the last item of the previous page"),
    registry: Registry = Depends(get_registry),
    _: Principal = Depends(require_scope("registry:read")),
) -> Page[SubmissionOut]:
    async with registry.runtime.sessionmaker() as session:
        rows = list(
            await SubmissionRepository(session).list(
                agency=agency, kind=kind.value if kind else None, period=period, limit=limit + 1, after=cursor
            )
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[SubmissionOut](
        items=[SubmissionOut.model_validate(r) for r in rows], next_cursor=str(rows[-1].id) if more and rows else None
    )


@router.post(
    "",
    status_code=201,
    response_model=SubmissionOut,
    summary="Nộp báo cáo (submit a report)",
    responses={401: {}, 403: {}, 422: {}, **RATE_LIMITED},
)
async def submit_report(
    data: ReportSubmissionCreate,
    response: Response,
    idempotency_key: str | None = IdempotencyHeader,
    registry: Registry = Depends(get_registry),
    principal: Principal = Depends(WRITE),
) -> SubmissionOut:
    idem = IdempotencyKey.of(
        principal.agency, idempotency_key, "POST /report-submissions", data.model_dump(mode="json")
    )
    created = await registry.submissions.submit(principal, data, idem)
    mark_replayed(response, created)
    return SubmissionOut.model_validate(created.resource)
