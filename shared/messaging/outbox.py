"""The outbox writer, used by domain code inside its own business transaction.

No dual writes: the service never talks to Kafka while changing state. It adds an outbox row on the same
session, and the row becomes visible only if the transaction commits. Then the relay is woken: directly, when
it runs in this process (`Outbox.wake`), else by a NOTIFY that PostgreSQL delivers at commit. The direct wake
matters on a busy service: PostgreSQL serialises the commits of notifying transactions on one database-wide
lock, and the relay's listener takes a message per commit (docs/performance.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, event, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared import tracing
from shared.events.contracts import EventPayload, payload_json
from shared.events.envelope import SOURCE_PREFIX

ROW_COLUMNS = (
    "topic",
    "key",
    "event_id",
    "event_type",
    "source",
    "subject",
    "occurred_at",
    "traceparent",
    "payload",
)
"""What :meth:`Outbox.rows_for` fills in (the id and `published_at` are the table's)."""


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


class Outbox:
    def __init__(self, table: Table, service: str, topic_prefix: str = "") -> None:
        self.table = table
        self.topic_prefix = topic_prefix
        self.source = SOURCE_PREFIX + service
        self.channel = notify_channel(table.schema or "public")
        self.wake: Callable[[], None] | None = None  # the relay of this process, once it runs (shared.service)
        # Built once: SQLAlchemy then finds the compiled form by the statement's cache key without rebuilding.
        self._insert = insert(table)
        self._notify = select(func.pg_notify(literal(self.channel), literal("")))
        one_row = insert(table).values({c: bindparam(c, type_=table.c[c].type) for c in ROW_COLUMNS})
        # One row and the NOTIFY in one round trip (PostgreSQL runs a data-modifying WITH whether or not the
        # outer query reads it): the common case of a request that changes one aggregate.
        self._insert_and_notify = self._notify.add_cte(one_row.cte("staged"))

    async def add(self, session: AsyncSession, payload: EventPayload, *, occurred_at: datetime | None = None) -> str:
        """Stage `payload` for publication as part of the caller's open transaction; returns the event id."""
        [event_id] = await self.add_many(session, [payload], occurred_at=occurred_at)
        return event_id

    async def add_many(
        self, session: AsyncSession, payloads: Sequence[EventPayload], *, occurred_at: datetime | None = None
    ) -> list[str]:
        """Stage several events in one statement (same transaction rules as :meth:`add`)."""
        rows = self.rows_for(payloads, occurred_at=occurred_at)
        await self.insert_rows(session, rows)
        return [str(row["event_id"]) for row in rows]

    def rows_for(
        self, payloads: Sequence[EventPayload], *, occurred_at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The outbox rows for `payloads`, traced to the current trace, not yet written.

        For a caller that gathers the events of a whole batch and writes them once (:meth:`insert_rows`, in
        the same transaction); rows keep the order they are inserted in, which is the order they are published.
        """
        at = occurred_at or datetime.now(UTC)
        traceparent = tracing.current_traceparent()
        return [
            {
                "topic": self.topic_prefix + payload.topic,
                "key": payload.key(),
                "event_id": str(uuid.uuid4()),
                "event_type": payload.event_type,
                "source": self.source,
                "subject": payload.key(),
                "occurred_at": at,
                "traceparent": traceparent,
                "payload": payload_json(payload),
            }
            for payload in payloads
        ]

    async def insert_rows(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        """Write rows made by :meth:`rows_for` as part of the caller's open transaction."""
        if not session.in_transaction():
            raise RuntimeError("Outbox.add must run inside the business transaction")
        if not rows:
            return
        # Once per transaction wakes the relay: NOTIFY is delivered by PostgreSQL at commit, never on rollback,
        # and so is the direct wake (`_wake_after_commit`).
        transaction = session.get_transaction()
        woken = session.info.get(_STAGED) is transaction
        session.info[_STAGED] = transaction
        if self.wake is not None:
            session.info[_WAKE] = self.wake
            await session.execute(self._insert, list(rows))  # executemany: compiled once and cached
        elif woken:
            await session.execute(self._insert, list(rows))
        elif len(rows) == 1:
            await session.execute(self._insert_and_notify, dict(rows[0]))
        else:
            await session.execute(self._insert, list(rows))
            await session.execute(self._notify)


_STAGED = "htx_outbox_staged"  # session.info: the transaction that staged outbox rows
_WAKE = "htx_outbox_wake"  # session.info: the relay to wake once that transaction commits


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    # A session that rolled back keeps its wake for its next commit: waking a relay with nothing new is harmless.
    wake = session.info.pop(_WAKE, None)
    if wake is not None:
        wake()
