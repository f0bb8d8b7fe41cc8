"""The in-app inbox [hộp thư] of one agency: newest first, unread count, mark as read.

An agency only ever sees and changes its own messages; another agency's message is "not found", so ids reveal
nothing. SNN's inbox also holds fallback copies of other agencies' notices (`fallback_for` names whose).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.db.models import InboxMessage
from shared.errors import NotFound
from shared.pagination import decode_cursor, encode_cursor

SORT = "-created_at"


async def list_messages(
    session: AsyncSession, agency_code: str, *, unread_only: bool, limit: int, cursor: str | None
) -> tuple[Sequence[InboxMessage], str | None]:
    query = select(InboxMessage).where(InboxMessage.agency_code == agency_code)
    if unread_only:
        query = query.where(InboxMessage.read_at.is_(None))
    if cursor:
        position = decode_cursor(cursor, SORT, lambda value: datetime.fromisoformat(str(value)))
        query = query.where(tuple_(InboxMessage.created_at, InboxMessage.id) < position)
    rows = (
        await session.scalars(query.order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc()).limit(limit + 1))
    ).all()
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(SORT, page[-1].created_at.isoformat(), str(page[-1].id)) if more and page else None
    return page, next_cursor


async def unread_count(session: AsyncSession, agency_code: str) -> int:
    query = select(func.count()).where(InboxMessage.agency_code == agency_code, InboxMessage.read_at.is_(None))
    return int(await session.scalar(query) or 0)


async def mark_read(
    sessionmaker: async_sessionmaker[AsyncSession], agency_code: str, message_id: uuid.UUID, now: datetime
) -> InboxMessage:
    """Mark one of the agency's messages read (again is harmless: the first reading time is kept)."""
    async with sessionmaker() as session, session.begin():
        message = await session.scalar(
            select(InboxMessage)
            .where(InboxMessage.id == message_id, InboxMessage.agency_code == agency_code)
            .with_for_update()
        )
        if message is None:
            raise NotFound(
                f"Không có thư '{message_id}' trong hộp thư của '{agency_code}' (no such message in your inbox)",
                errors=[{"field": "path.message_id", "message": "not a message of the caller's agency"}],
            )
        if message.read_at is None:
            message.read_at = now
        return message
