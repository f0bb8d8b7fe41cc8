"""The ordered event log behind `GET /v1/stream`, and its sequencer.

A `StreamEvent`'s `id` is taken from a sequence at INSERT, so ids commit out of order: a reader that has seen
id 10 could later find a 9 that committed after it, and a client resuming "after 10" would miss it forever.
So the stream position is a second number, `seq`, given only to *committed* rows by one sequencer at a time
(a transaction-scoped advisory lock; each pass numbers every unsequenced row in id order, continuing from the
highest `seq`). A pass commits before its lock is released, so when seq N is visible every seq below it is
too: `seq > last` never skips a row. Whoever reads the stream runs the sequencer first (domain code writes
only the row and a NOTIFY), which keeps writers' transactions free of any stream-wide lock.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.db.models import StreamEvent

STREAM_CHANNEL = "notifications_stream"
"""NOTIFY channel: raised by `dispatch.notify` (new rows) and by the sequencer (new positions)."""
SEQUENCER_LOCK = zlib.crc32(b"notifications.stream.sequencer")


async def sequence_pending(session: AsyncSession) -> int:
    """Give every committed, unsequenced row its position (in the caller's transaction); returns how many."""
    if not await session.scalar(select(func.pg_try_advisory_xact_lock(SEQUENCER_LOCK))):
        return 0  # another replica is sequencing; its NOTIFY will wake us
    top = select(func.coalesce(func.max(StreamEvent.seq), 0)).scalar_subquery()
    pending = (
        select(StreamEvent.id, func.row_number().over(order_by=StreamEvent.id).label("n"))
        .where(StreamEvent.seq.is_(None))
        .subquery()
    )
    result = await session.execute(
        update(StreamEvent)
        .where(StreamEvent.id == pending.c.id)
        .values(seq=top + pending.c.n)
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        await session.execute(select(func.pg_notify(STREAM_CHANNEL, "")))
    return count


async def sequence(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """One sequencer pass in a transaction of its own: it commits before its lock is released."""
    async with sessionmaker() as session, session.begin():
        return await sequence_pending(session)


async def head(session: AsyncSession) -> int:
    """The highest position given so far (0 on an empty log)."""
    return int(await session.scalar(select(func.coalesce(func.max(StreamEvent.seq), 0))) or 0)


async def events_after(
    session: AsyncSession, after: int, *, agency_code: str | None = None, limit: int = 500
) -> Sequence[StreamEvent]:
    """Sequenced events with a position above `after`, oldest first (one agency's, or every agency's)."""
    query = select(StreamEvent).where(StreamEvent.seq > after).order_by(StreamEvent.seq).limit(limit)
    if agency_code is not None:
        query = query.where(StreamEvent.agency_code == agency_code)
    return (await session.scalars(query)).all()
