"""The status report use case [báo cáo tình hình HTX]: the system's hot path, one transaction per report.

Under the cooperative's row lock (so two reports of one cooperative queue, and each sees the other's revision),
it reads what the decision needs, decides (`reporting.decide_report`) and writes the report, the cooperative's
new version, the audit row and the outbox row of `registry.cooperative-status.v1`, all in that transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from services.registry.db.cooperatives import CooperativeRepository, StatusReportRepository
from services.registry.db.models import StatusReport
from services.registry.domain.access import check_registry_write
from services.registry.domain.audit import audit_row
from services.registry.domain.idempotency import Created, IdempotencyKey, created_before, remember
from services.registry.domain.inputs import StatusReportCreate
from services.registry.domain.report_context import lock_with_context, read_context
from services.registry.domain.reporting import decide_report
from services.registry.events import publish
from shared.auth import Principal
from shared.clock import Clock
from shared.errors import NotFound, ValidationFailed
from shared.messaging.outbox import Outbox


def cooperative_not_found(cooperative_id: uuid.UUID) -> NotFound:
    return NotFound(f"Không tìm thấy HTX {cooperative_id} (cooperative not found)")


class StatusReportService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.clock = clock

    async def report(
        self, principal: Principal, cooperative_id: uuid.UUID, data: StatusReportCreate, idem: IdempotencyKey | None
    ) -> Created[StatusReport]:
        today = self.clock.today()
        if data.as_of > today:
            raise ValidationFailed(
                f"Ngày số liệu {data.as_of:%d/%m/%Y} ở tương lai (as_of is in the future)",
                errors=[{"field": "as_of", "message": f"must not be after {today.isoformat()}"}],
            )
        async with self.sessionmaker() as session, session.begin():
            earlier = await created_before(session, idem)
            if earlier is not None:
                report = await StatusReportRepository(session).get(earlier)
                if report is None:  # the key named a report that is no longer there: nothing to replay
                    raise cooperative_not_found(cooperative_id)
                return Created(report, replayed=True)
            report = await self.report_in(session, principal, cooperative_id, data)
            remember(session, idem, report.id)
        return Created(report)

    async def report_in(
        self, session: AsyncSession, principal: Principal, cooperative_id: uuid.UUID, data: StatusReportCreate
    ) -> StatusReport:
        """Add the report inside the caller's transaction (the API's, or the demo seed's)."""
        today = self.clock.today()
        await session.flush()  # what the caller staged goes first, so the audit trail keeps its order
        coop, context = await lock_with_context(session, cooperative_id, data.period, principal.agency, today)
        if coop is None:
            raise cooperative_not_found(cooperative_id)
        if context is None:  # the statement waited for another writer: read again, now that the lock is held
            context = await read_context(session, coop.id, data.period, principal.agency, today)
        check_registry_write(principal, context.jurisdiction, {coop.unit_code})
        # The time is taken under the lock: a report of the same period and date committed before has an
        # earlier `created_at`, so the later one becomes the latest.
        now = self.clock.now()
        decision = decide_report(
            coop.id, data, previous=context.previous, top_revision=context.top_revision, reporter=principal, now=now
        )
        new_version = decision.new_version(coop.version, now)
        audit = audit_row(coop.id, new_version["version"], "status_reported", decision.audit_changes(), principal, now)
        await StatusReportRepository(session).add_with_new_version(decision.values, coop.id, new_version, audit)
        for key, value in new_version.items():  # the loaded row as the statement left it: nothing to flush
            set_committed_value(coop, key, value)
        await self.outbox.add(session, publish.cooperative_status(coop, decision.latest, now), occurred_at=now)
        return decision.report

    async def history(self, cooperative_id: uuid.UUID, limit: int | None = None) -> Sequence[StatusReport]:
        async with self.sessionmaker() as session:
            if await CooperativeRepository(session).get(cooperative_id) is None:
                raise cooperative_not_found(cooperative_id)
            return await StatusReportRepository(session).history(cooperative_id, limit)
