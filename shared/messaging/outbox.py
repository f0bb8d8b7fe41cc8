"""The outbox writer, used by domain code inside its own business transaction.

No dual writes: the service never talks to Kafka while changing state. It adds an outbox row on the same
session, and the row becomes visible — and the relay is woken by NOTIFY — only if the transaction commits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracing
from shared.events.contracts import EventPayload, payload_json
from shared.events.envelope import SOURCE_PREFIX


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


class Outbox:
    def __init__(self, table: Table, service: str, topic_prefix: str = "") -> None:
        self.table = table
        self.topic_prefix = topic_prefix
        self.source = SOURCE_PREFIX + service
        self.channel = notify_channel(table.schema or "public")

    async def add(self, session: AsyncSession, payload: EventPayload, *, occurred_at: datetime | None = None) -> str:
        """Stage `payload` for publication as part of the caller's open transaction; returns the event id."""
        if not session.in_transaction():
            raise RuntimeError("Outbox.add must run inside the business transaction")
        event_id = str(uuid.uuid4())
        key = payload.key()
        await session.execute(
            insert(self.table).values(
                topic=self.topic_prefix + payload.topic,
                key=key,
                event_id=event_id,
                event_type=payload.event_type,
                source=self.source,
                subject=key,
                occurred_at=occurred_at or datetime.now(UTC),
                traceparent=tracing.current_traceparent(),
                payload=payload_json(payload),
            )
        )
        # Delivered by PostgreSQL at commit, never on rollback; many NOTIFYs in one transaction fold into one.
        await session.execute(select(func.pg_notify(self.channel, "")))
        return event_id
