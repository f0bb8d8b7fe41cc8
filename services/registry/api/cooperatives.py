"""`/v1/cooperatives`: the registry of HTX NN, their status reports and their change history."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from services.registry.api.dependencies import WRITE, Registry, get_registry
from services.registry.api.schemas import ChangeOut, CooperativeOut
from services.registry.domain.cooperative_query import CooperativeQuery
from services.registry.domain.cooperatives import etag_of
from services.registry.domain.idempotency import Created, IdempotencyKey
from services.registry.domain.inputs import CooperativeCreate, CooperativeUpdate
from shared.auth import Principal, require_scope
from shared.errors import PreconditionRequired
from shared.events.contracts import Classification, LegalStatus, Sector
from shared.pagination import BIGINT_MAX, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from shared.ratelimit import RATE_LIMITED
from shared.text import NO_CONTROL_CHARACTERS

router = APIRouter(prefix="/cooperatives", tags=["cooperatives"])
READ = require_scope("registry:read")

IdempotencyHeader = Header(
    None,
    alias="Idempotency-Key",
    min_length=8,
    max_length=200,
    pattern=NO_CONTROL_CHARACTERS,
    description="Khóa chống trùng: gửi lại cùng khóa trả về kết quả lần đầu (a retry returns the first result)",
)
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid token"},
    403: {"description": "Outside the agency's jurisdiction"},
    422: {"description": "Invalid input (problem+json naming each field)"},
}

Sort = Literal[
    "name", "-name", "registration_code", "-registration_code", "updated_at", "-updated_at", "created_at", "-created_at"
]


def mark_replayed(response: Response, created: Created[Any]) -> None:
    """A retry with the same Idempotency-Key says so: its body is what the first request created."""
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"


@router.get("", response_model=Page[CooperativeOut], summary="Danh sách HTX (list cooperatives)", responses=PROBLEMS)
async def list_cooperatives(
    unit: str | None = Query(
        None,
        max_length=20,
        pattern=NO_CONTROL_CHARACTERS,
        description="Đơn vị, gồm cả các đơn vị cấp dưới",
        examples=["926"],
    ),
    sector: Sector | None = None,
    legal_status: LegalStatus | None = None,
    classification: Classification | None = Query(None, description="Latest annual classification (rating)"),
    is_model: bool | None = Query(None, description="Mô hình điểm"),
    q: str | None = Query(
        None,
        min_length=1,
        max_length=100,
        pattern=NO_CONTROL_CHARACTERS,
        description="Tìm theo tên, không phân biệt dấu",
        examples=["hop tac xa my khanh"],
    ),
    sort: Sort = "name",
    limit: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
    cursor: str | None = Query(None, max_length=500),
    registry: Registry = Depends(get_registry),
    _: Principal = Depends(READ),
) -> Page[CooperativeOut]:
    query = CooperativeQuery(registry.runtime.sessionmaker, registry.runtime.clock)
    rows, next_cursor = await query.page(
        unit=unit,
        sector=sector,
        legal_status=legal_status,
        classification=classification,
        is_model=is_model,
        q=q,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return Page[CooperativeOut](items=[CooperativeOut.of(c, s) for c, s in rows], next_cursor=next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=CooperativeOut,
    summary="Đăng ký HTX (register a cooperative)",
    responses={**PROBLEMS, **RATE_LIMITED, 409: {"description": "Registration code already registered"}},
)
async def create_cooperative(
    data: CooperativeCreate,
    response: Response,
    idempotency_key: str | None = IdempotencyHeader,
    registry: Registry = Depends(get_registry),
    principal: Principal = Depends(WRITE),
) -> CooperativeOut:
    idem = IdempotencyKey.of(principal.agency, idempotency_key, "POST /cooperatives", data.model_dump(mode="json"))
    created = await registry.cooperatives.create(principal, data, idem)
    coop, latest = created.resource
    mark_replayed(response, created)
    response.headers["Location"] = f"/v1/cooperatives/{coop.id}"
    response.headers["ETag"] = etag_of(coop)
    return CooperativeOut.of(coop, latest)


@router.get("/{cooperative_id:uuid}", response_model=CooperativeOut, responses={404: {}, **PROBLEMS})
async def get_cooperative(
    cooperative_id: uuid.UUID,
    response: Response,
    registry: Registry = Depends(get_registry),
    _: Principal = Depends(READ),
) -> CooperativeOut:
    coop, latest = await registry.cooperatives.get(cooperative_id)
    response.headers["ETag"] = etag_of(coop)
    return CooperativeOut.of(coop, latest)


@router.patch(
    "/{cooperative_id:uuid}",
    response_model=CooperativeOut,
    summary="Cập nhật HTX (update; needs If-Match)",
    responses={
        404: {},
        412: {"description": "Stale ETag"},
        428: {"description": "If-Match missing"},
        **PROBLEMS,
        **RATE_LIMITED,
    },
)
async def update_cooperative(
    cooperative_id: uuid.UUID,
    data: CooperativeUpdate,
    response: Response,
    if_match: str | None = Header(None, alias="If-Match", description="The ETag from your last GET"),
    registry: Registry = Depends(get_registry),
    principal: Principal = Depends(WRITE),
) -> CooperativeOut:
    if not if_match:
        raise PreconditionRequired("Cần header If-Match với ETag vừa đọc (If-Match is required for updates)")
    coop, latest = await registry.cooperatives.update(principal, cooperative_id, if_match, data)
    response.headers["ETag"] = etag_of(coop)
    return CooperativeOut.of(coop, latest)


@router.get(
    "/{cooperative_id:uuid}/history",
    response_model=list[ChangeOut],
    summary="Ai đã sửa gì, khi nào",
    responses={404: {}, **PROBLEMS},
)
async def cooperative_history(
    cooperative_id: uuid.UUID,
    limit: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Newest first"),
    before: int | None = Query(
        None, ge=1, le=BIGINT_MAX, description="Older than this change id (the last `id` of a page)"
    ),
    registry: Registry = Depends(get_registry),
    _: Principal = Depends(READ),
) -> list[ChangeOut]:
    changes = await registry.cooperatives.changes(cooperative_id, limit, before)
    return [ChangeOut.model_validate(c) for c in changes]
