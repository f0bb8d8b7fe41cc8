"""The use cases of the indicators service: apply an event, recompute everything, assess targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicators.db.models import Aggregate, Contribution, CooperativeState, IndicatorValue, OrgUnit
from services.indicators.domain.aggregation import refresh_contributions, refresh_values, units_to_refresh
from services.indicators.domain.assessment import assess
from services.indicators.domain.catalogue import load_plans
from services.indicators.domain.plans import PlanDocument
from services.indicators.domain.projection import apply_status_events, contributions_for, histories
from services.indicators.domain.tree import OrgTree
from shared.clock import Clock
from shared.events.contracts import CooperativeStatusV1, OrgUnitV1
from shared.messaging.outbox import Outbox


class IndicatorEngine:
    def __init__(self, outbox: Outbox, clock: Clock) -> None:
        self.outbox = outbox
        self.clock = clock

    async def on_cooperative_statuses(self, session: AsyncSession, payloads: Sequence[CooperativeStatusV1]) -> None:
        """Status events in order, in one transaction (a single event is a batch of one): the projection takes
        them set-based, then the contributions and sums of the changed cooperatives, the values above them and
        the target statuses are brought up to date once for all of them. Values and statuses that a later event
        of the same batch supersedes are not published."""
        changes = await apply_status_events(session, payloads)
        if not changes:
            return
        now, today = self.clock.now(), self.clock.today()
        tree: OrgTree | None = None
        for plan in await load_plans(session):
            touched = await refresh_contributions(session, plan, changes)
            if not touched:
                continue
            if tree is None:
                tree = await OrgTree.load(session)
            pairs = units_to_refresh(plan, touched, tree)
            changed = await refresh_values(session, plan, pairs, self.outbox, now, tree=tree)
            if changed:
                await assess(session, plan, changed, self.outbox, today, now, tree=tree)

    async def on_org_unit(self, session: AsyncSession, payload: OrgUnitV1) -> None:
        unit = await session.get(OrgUnit, payload.code, with_for_update=True)
        if unit is not None and payload.version <= unit.version and payload.parent_code == unit.parent_code:
            return
        if unit is None:
            unit = OrgUnit(code=payload.code)
            session.add(unit)
        unit.name, unit.level, unit.parent_code = payload.name, payload.level, payload.parent_code
        unit.valid_from, unit.valid_to, unit.version = payload.valid_from, payload.valid_to, payload.version
        await session.flush()
        # A unit (re)attached to the tree changes the roll-up of everything above it.
        now, today = self.clock.now(), self.clock.today()
        tree = await OrgTree.load(session)
        for plan in await load_plans(session):
            periods = set(
                (
                    await session.scalars(select(Aggregate.period).where(Aggregate.plan_code == plan.code).distinct())
                ).all()
            )
            chain = tree.ancestors(payload.code)
            pairs = {(p, u) for p in periods for u in [*chain, plan.city_unit]}
            await refresh_values(session, plan, pairs, self.outbox, now, tree=tree)
            await assess(session, plan, set(chain) | {plan.city_unit}, self.outbox, today, now, tree=tree)

    async def reassess(self, session: AsyncSession) -> int:
        """Re-evaluate every target (time alone can turn a target `missed`)."""
        now, today = self.clock.now(), self.clock.today()
        return sum([await assess(session, plan, None, self.outbox, today, now) for plan in await load_plans(session)])


@dataclass
class RecomputeReport:
    plan_code: str
    cooperatives: int = 0
    values: int = 0
    differences: list[dict[str, str | None]] = field(default_factory=list)


RECOMPUTE_BATCH = 2000
"""Cooperatives a full recompute reads and writes at a time."""


async def recompute(session: AsyncSession, plan: PlanDocument, outbox: Outbox | None, clock: Clock) -> RecomputeReport:
    """Rebuild the plan's sums and values from the projection alone; report every value that differed."""
    now = clock.now()
    report = RecomputeReport(plan.code)
    before = await _values_of(session, plan)
    await session.execute(delete(Contribution).where(Contribution.plan_code == plan.code))
    await session.execute(delete(Aggregate).where(Aggregate.plan_code == plan.code))

    # Cooperative by cooperative, a batch at a time: only the sums (one per unit, period and indicator) are kept
    # for the whole plan, so memory stays flat whatever the registry's size. The histories are read as the
    # incremental path reads them (`histories`), so the two derive the same contributions from the same rows.
    sums: dict[tuple[str, str], dict[str, list[Decimal]]] = {}
    members: dict[tuple[str, str], int] = {}
    every_cooperative = select(CooperativeState.cooperative_id).order_by(CooperativeState.cooperative_id)
    ids = (await session.scalars(every_cooperative)).all()
    for start in range(0, len(ids), RECOMPUTE_BATCH):
        batch = ids[start : start + RECOMPUTE_BATCH]
        profiles, snapshots = await histories(session, batch)
        rows = []
        for cooperative_id in batch:
            report.cooperatives += 1
            for c in contributions_for(plan, profiles.get(cooperative_id, []), snapshots.get(cooperative_id, [])):
                rows.append(
                    {
                        "plan_code": plan.code,
                        "cooperative_id": cooperative_id,
                        "period": c.period,
                        "unit_code": c.unit_code,
                        "parts": c.parts,
                    }
                )
                unit_period = (c.unit_code, c.period)
                members[unit_period] = members.get(unit_period, 0) + 1
                bucket = sums.setdefault(unit_period, {})
                for code, (num, den) in c.parts.items():
                    acc = bucket.setdefault(code, [Decimal(0), Decimal(0)])
                    acc[0] += Decimal(num)
                    acc[1] += Decimal(den)
        if rows:
            await session.execute(insert(Contribution), rows)
        del profiles, snapshots, rows
    aggregates = [
        {
            "plan_code": plan.code,
            "indicator_code": code,
            "unit_code": unit,
            "period": period,
            "numerator": numerator,
            "denominator": denominator,
            "members": members[(unit, period)],
        }
        for (unit, period), bucket in sums.items()
        for code, (numerator, denominator) in bucket.items()
    ]
    for start in range(0, len(aggregates), 5000):
        await session.execute(insert(Aggregate), aggregates[start : start + 5000])

    tree = await OrgTree.load(session)
    pairs = units_to_refresh(plan, set((period, unit) for unit, period in sums), tree)
    pairs |= {(period, unit) for (_, unit, period) in before}
    await refresh_values(session, plan, pairs, outbox, now, tree=tree)
    after = await _values_of(session, plan)
    report.values = len(after)
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            report.differences.append(
                {
                    "indicator": key[0],
                    "unit": key[1],
                    "period": key[2],
                    "incremental": _s(before.get(key)),
                    "recomputed": _s(after.get(key)),
                }
            )
    await assess(session, plan, None, outbox, clock.today(), now, tree=tree)
    return report


async def _values_of(session: AsyncSession, plan: PlanDocument) -> dict[tuple[str, str, str], Decimal | None]:
    """Every value of the plan, read as columns (the values are written with Core statements, not the ORM)."""
    rows = await session.execute(
        select(
            IndicatorValue.indicator_code, IndicatorValue.unit_code, IndicatorValue.period, IndicatorValue.value
        ).where(IndicatorValue.plan_code == plan.code)
    )
    return {(code, unit, period): value for code, unit, period, value in rows}


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


async def recompute_all(session: AsyncSession, outbox: Outbox | None, clock: Clock) -> list[RecomputeReport]:
    return [await recompute(session, plan, outbox, clock) for plan in await load_plans(session)]
