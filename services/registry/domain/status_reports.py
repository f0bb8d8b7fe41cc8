"""The status report use case [báo cáo tình hình HTX]: the system's hot path.

One statement reads what the decision needs (`report_context`), a pure function decides (`reporting`), and one
statement writes the report, the cooperative's new version, the audit row, the Idempotency-Key's record and the
outbox row of `registry.cooperative-status.v1` — a transaction of its own — if the cooperative is still at the
version read. If another writer changed it in between, nothing was written, and the report is read, decided
and written again on the new state. Each statement commits by itself, so a report costs two round trips and no
BEGIN or COMMIT.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from services.registry.db.cooperatives import (
    IDEMPOTENCY_COLUMNS,
    NEW_VERSION_COLUMNS,
    CooperativeRepository,
    StatusReportRepository,
    read_report,
    report_if_unchanged,
)
from services.registry.db.models import Cooperative, StatusReport
from services.registry.domain.access import check_registry_write
from services.registry.domain.audit import audit_row
from services.registry.domain.cooperatives import cooperative_not_found
from services.registry.domain.idempotency import Created, IdempotencyKey, record_of, replay_of
from services.registry.domain.inputs import StatusReportCreate
from services.registry.domain.report_context import read_context
from services.registry.domain.reporting import ReportDecision, decide_report
from services.registry.events import publish
from shared.auth import Principal
from shared.clock import Clock
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.messaging.outbox import Outbox

# A lost race costs one read and one write; writers of one cooperative at once (its two districts' clerks, a
# retrying client) are few, and a short random pause keeps them from colliding again.
ATTEMPTS = 20
BACKOFF_SECONDS = 0.002


class StatusReportService:
    def __init__(
        self, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock
    ) -> None:
        # The same pool; every statement on these connections is a transaction of its own.
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.clock = clock
        self._write_and_notify = report_if_unchanged(outbox.table, outbox.channel)
        self._write = report_if_unchanged(outbox.table, None)

    async def report(
        self, principal: Principal, cooperative_id: uuid.UUID, data: StatusReportCreate, idem: IdempotencyKey | None
    ) -> Created[StatusReport]:
        async with self.engine.connect() as conn:
            return await self.report_on(conn, principal, cooperative_id, data, idem, committed_at_once=True)

    async def report_on(
        self,
        conn: AsyncConnection,
        principal: Principal,
        cooperative_id: uuid.UUID,
        data: StatusReportCreate,
        idem: IdempotencyKey | None = None,
        *,
        committed_at_once: bool = False,
    ) -> Created[StatusReport]:
        """The report on `conn`: each statement committing by itself (`committed_at_once`, the API), or inside
        the caller's transaction (the demo seed)."""
        today = self.clock.today()
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(random.uniform(0, BACKOFF_SECONDS * attempt))
            context = await read_context(conn, cooperative_id, data.period, principal.agency, today, idem)
            if context is None:
                raise cooperative_not_found(cooperative_id)
            if idem is not None and context.earlier is not None:
                report = await read_report(conn, replay_of(idem, context.earlier))
                if report is None or report.cooperative_id != cooperative_id:
                    raise NotFound("Báo cáo của khóa chống trùng không còn (the key's report is gone)")
                return Created(report, replayed=True)
            if data.as_of > today:
                raise ValidationFailed(
                    f"Ngày số liệu {data.as_of:%d/%m/%Y} ở tương lai (as_of is in the future)",
                    errors=[{"field": "as_of", "message": f"must not be after {today.isoformat()}"}],
                )
            check_registry_write(principal, context.jurisdiction, {context.cooperative.unit_code})
            # The time is taken after the read: a report of the same period and date committed before it has an
            # earlier `created_at`, so the later one becomes the latest.
            now = self.clock.now()
            decision = decide_report(
                cooperative_id,
                data,
                previous=context.previous,
                top_revision=context.top_revision,
                reporter=principal,
                now=now,
            )
            if await self._written(conn, principal, context.cooperative, decision, idem, now, committed_at_once):
                return Created(decision.report)
        raise Conflict(
            "HTX đang được cập nhật liên tục; hãy gửi lại (the cooperative kept changing; send the report again)"
        )

    async def _written(
        self,
        conn: AsyncConnection,
        principal: Principal,
        coop: Cooperative,
        decision: ReportDecision,
        idem: IdempotencyKey | None,
        now: datetime,
        committed_at_once: bool,
    ) -> bool:
        seen_version = coop.version
        new_version = decision.new_version(seen_version, now)
        for key, value in new_version.items():  # the cooperative as it will be: what the event carries
            setattr(coop, key, value)
        audit = audit_row(coop.id, coop.version, "status_reported", decision.audit_changes(), principal, now)
        [event] = self.outbox.rows_for([publish.cooperative_status(coop, decision.latest, now)], occurred_at=now)
        record = record_of(idem, decision.report.id) if idem is not None else {}
        params: dict[str, Any] = {"c_id": coop.id, "c_seen_version": seen_version}
        params.update({"c_" + k: new_version[k] for k in NEW_VERSION_COLUMNS})
        params.update({"r_" + k: v for k, v in decision.values.items()})
        params.update({"a_" + k: v for k, v in audit.items()})
        params.update({"k_" + k: record.get(k) for k in IDEMPOTENCY_COLUMNS})
        params.update({"o_" + k: v for k, v in event.items()})
        # The relay of this process is woken once the statement has committed; inside a caller's transaction,
        # that transaction's commit delivers the NOTIFY instead.
        wake = self.outbox.wake if committed_at_once else None
        written = (await conn.execute(self._write if wake else self._write_and_notify, params)).first() is not None
        if written and wake is not None:
            wake()
        return written

    async def history(self, cooperative_id: uuid.UUID, limit: int | None = None) -> Sequence[StatusReport]:
        async with self.sessionmaker() as session:
            if await CooperativeRepository(session).get(cooperative_id) is None:
                raise cooperative_not_found(cooperative_id)
            return await StatusReportRepository(session).history(cooperative_id, limit)
