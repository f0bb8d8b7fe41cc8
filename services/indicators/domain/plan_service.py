"""Use cases on the plans in force: list and read them, put one, recompute them all. A write opens and owns its
transaction and stages the values and statuses it changes in the outbox inside it (no dual writes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.indicators.db.models import Plan
from services.indicators.domain.catalogue import find_plan, store_plan
from services.indicators.domain.engine import RecomputeReport, recompute, recompute_all
from services.indicators.domain.plans import PlanDocument
from shared.clock import Clock
from shared.errors import ValidationFailed
from shared.messaging.outbox import Outbox


@dataclass(frozen=True)
class StoredPlan:
    """A plan as kept: its document, and the version and source of its last load."""

    code: str
    document: PlanDocument
    version: int
    source: str
    loaded_at: datetime

    @classmethod
    def of(cls, row: Plan) -> StoredPlan:
        return cls(row.code, PlanDocument.model_validate(row.document), row.version, row.source, row.loaded_at)


class PlanService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.clock = clock

    # -- reads ------------------------------------------------------------------------------------------

    async def plans(self) -> list[StoredPlan]:
        async with self.sessionmaker() as session:
            return [StoredPlan.of(row) for row in (await session.scalars(select(Plan).order_by(Plan.code))).all()]

    async def find(self, code: str) -> PlanDocument:
        async with self.sessionmaker() as session:
            return await find_plan(session, code)

    # -- writes -----------------------------------------------------------------------------------------

    async def put(self, code: str, plan: PlanDocument) -> StoredPlan:
        """Create or replace the plan named `code`; a changed document is recomputed in the same transaction,
        so its values never describe an older version of the plan."""
        if code not in (plan.code, plan.slug):
            raise ValidationFailed(
                "Mã kế hoạch trong đường dẫn và trong tài liệu khác nhau (code mismatch)",
                errors=[{"field": "code", "message": f"must be {code!r}"}],
            )
        async with self.sessionmaker() as session, session.begin():
            row, changed = await store_plan(session, plan, source="api", now=self.clock.now())
            if changed:
                await recompute(session, plan, self.outbox, self.clock)
            stored = StoredPlan.of(row)
        return stored

    async def recompute_all(self) -> list[RecomputeReport]:
        """Rebuild every plan from the projection alone, in one transaction: a reader sees either the values
        before or the values after, never a plan half rebuilt."""
        async with self.sessionmaker() as session, session.begin():
            reports = await recompute_all(session, self.outbox, self.clock)
        return reports
