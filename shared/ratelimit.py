"""Per-agency request limits shared by every replica: a fixed one-minute window counted in PostgreSQL.

Each check is one statement on its own autocommitted connection (`INSERT … ON CONFLICT DO UPDATE … RETURNING`),
so the count is the same for every replica and holds its row lock only for that statement. The window is the
database's minute, not the replica's clock: replicas whose clocks drift still share one window. A check that
opens a new window deletes that agency's older windows of the bucket, so the table keeps about one row per
agency and bucket.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal, require_scope
from shared.errors import TooManyRequests
from shared.service import get_runtime
from shared.settings import ServiceSettings

WINDOW = timedelta(minutes=1)

RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "The caller's agency used up this operation's limit for the minute (problem+json names "
        "the limit); retry after `Retry-After` seconds",
        "headers": {"Retry-After": {"description": "Seconds until the window ends", "schema": {"type": "integer"}}},
    }
}
"""The 429 a limited route answers, for its `responses=`."""


def rate_limits_table(metadata: MetaData) -> Table:
    """Requests per agency, bucket and minute; the primary key is what each check upserts."""
    return Table(
        "rate_limits",
        metadata,
        Column("agency", String(30), primary_key=True),
        Column("bucket", String(40), primary_key=True),
        Column("window_start", DateTime(timezone=True), primary_key=True),
        Column("hits", Integer, nullable=False),
    )


class RateLimiter:
    """Counts requests in one service's `rate_limits` table and refuses those above a limit."""

    def __init__(self, table: Table) -> None:
        self._table = table
        window_start = func.date_trunc("minute", func.now())
        upsert = insert(table).values(agency=None, bucket=None, window_start=window_start, hits=1)
        self._hit = upsert.on_conflict_do_update(
            index_elements=[table.c.agency, table.c.bucket, table.c.window_start],
            set_={"hits": table.c.hits + 1},
        ).returning(table.c.hits, table.c.window_start, func.now())

    async def hit(self, engine: AsyncEngine, agency: str, bucket: str, per_minute: int) -> None:
        """Count one request; raise `TooManyRequests` when it is above `per_minute` (0 = no limit)."""
        if per_minute <= 0:
            return
        table = self._table
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            hits, window_start, now = (await conn.execute(self._hit, {"agency": agency, "bucket": bucket})).one()
            if hits == 1:
                await conn.execute(
                    delete(table).where(
                        table.c.agency == agency, table.c.bucket == bucket, table.c.window_start < window_start
                    )
                )
        if hits > per_minute:
            retry_after = math.ceil((window_start + WINDOW - now).total_seconds())
            raise TooManyRequests(
                f"Cơ quan '{agency}' đã vượt giới hạn {per_minute} yêu cầu mỗi phút "
                f"(at most {per_minute} '{bucket}' requests per minute per agency)",
                retry_after=retry_after,
                limit=per_minute,
                bucket=bucket,
                window_seconds=int(WINDOW.total_seconds()),
            )


def limited(
    scope: str, limiter: RateLimiter, bucket: str, per_minute: Callable[[ServiceSettings], int]
) -> Callable[..., Awaitable[Principal]]:
    """A dependency like `require_scope(scope)` that also counts the request against the agency's limit."""

    async def dependency(request: Request, principal: Principal = Depends(require_scope(scope))) -> Principal:
        runtime = get_runtime(request)
        await limiter.hit(runtime.engine, principal.agency, bucket, per_minute(runtime.settings))
        return principal

    dependency.__name__ = f"limited_{bucket.replace('-', '_')}"
    return dependency
