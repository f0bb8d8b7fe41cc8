"""`/v1/inbox`: the caller's agency's in-app inbox — list, unread count, mark as read."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Path, Query

from services.notifications.api.delivery_schemas import InboxMessageOut, UnreadCount
from services.notifications.domain import inbox
from services.notifications.domain.access import READ, WRITE
from shared.auth import Principal, require_scope
from shared.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from shared.service import Runtime, get_runtime

router = APIRouter(prefix="/inbox", tags=["inbox"])
PROBLEMS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid bearer token (problem+json)"},
    403: {"description": "The token lacks the scope (problem+json)"},
    422: {"description": "Invalid parameter; `errors` names each field (problem+json)"},
}


@router.get(
    "",
    response_model=Page[InboxMessageOut],
    summary="Hộp thư của cơ quan (the caller's inbox), newest first",
    responses=PROBLEMS,
)
async def list_inbox(
    unread_only: bool = Query(False, description="Only messages not yet marked read", examples=[True]),
    limit: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, examples=[50]),
    cursor: str | None = Query(None, max_length=300, description="`next_cursor` of the previous page"),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(READ)),
) -> Page[InboxMessageOut]:
    async with runtime.sessionmaker() as session:
        rows, next_cursor = await inbox.list_messages(
            session, principal.agency, unread_only=unread_only, limit=limit, cursor=cursor
        )
        return Page(items=[InboxMessageOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/unread-count",
    response_model=UnreadCount,
    summary="Số thư chưa đọc (unread messages)",
    responses=PROBLEMS,
)
async def unread(
    runtime: Runtime = Depends(get_runtime), principal: Principal = Depends(require_scope(READ))
) -> UnreadCount:
    async with runtime.sessionmaker() as session:
        return UnreadCount(agency_code=principal.agency, unread=await inbox.unread_count(session, principal.agency))


@router.post(
    "/{message_id}/read",
    response_model=InboxMessageOut,
    summary="Đánh dấu đã đọc (mark a message read)",
    responses={**PROBLEMS, 404: {"description": "No such message in the caller's inbox (problem+json)"}},
)
async def mark_read(
    message_id: uuid.UUID = Path(examples=["9a0d4c1e-2b3f-4a5b-8c7d-6e5f4a3b2c1d"]),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(WRITE)),
) -> InboxMessageOut:
    message = await inbox.mark_read(runtime.sessionmaker, principal.agency, message_id, runtime.clock.now())
    return InboxMessageOut.model_validate(message)
