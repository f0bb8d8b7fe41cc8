"""Reads of progress: every target of a unit, one target, an indicator's time series. Each read takes one
session, so the plan and the values it judges come from the same moment."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.indicators.db.models import IndicatorValue
from services.indicators.domain.aggregation import districts
from services.indicators.domain.assessment import (
    Values,
    across_districts,
    progress_from,
    responsible,
    series,
    unit_values,
)
from services.indicators.domain.catalogue import find_plan
from services.indicators.domain.periods import period_end, period_of
from services.indicators.domain.plans import IndicatorDef, PlanDocument, TargetDef
from services.indicators.domain.progress import Progress
from shared.clock import Clock
from shared.errors import NotFound


@dataclass(frozen=True)
class TargetProgress:
    """A target's verdict for a unit, with the goal it is measured against and who answers for it."""

    plan: PlanDocument
    target: TargetDef
    unit: str
    result: Progress
    goal: Decimal | None
    lead: str
    coordinating: list[str]


@dataclass(frozen=True)
class UnitProgress:
    plan: PlanDocument
    unit: str
    as_of: date
    targets: list[TargetProgress]

    @property
    def counts(self) -> dict[str, int]:
        """How many targets are in each status."""
        return dict(Counter(t.result.status for t in self.targets))


@dataclass(frozen=True)
class ValueAt:
    """An indicator's value at the end of a period; a derived (`change`) value has no sums behind it."""

    period: str
    period_end: date
    value: Decimal | None
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    members: int | None = None


@dataclass(frozen=True)
class IndicatorSeries:
    plan: PlanDocument
    indicator: IndicatorDef
    unit: str
    points: list[ValueAt]


class ProgressService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock

    async def unit_progress(self, plan_code: str, unit: str) -> UnitProgress:
        async with self.sessionmaker() as session:
            plan = await find_plan(session, plan_code)
            values = await unit_values(session, plan, unit)  # one read for every target of the unit
            targets = [await self._progress(session, plan, t, unit, values) for t in plan.targets]
        return UnitProgress(plan, unit, self.clock.today(), targets)

    async def target_progress(self, target_id: str, unit: str | None) -> TargetProgress:
        """One target (`<plan slug>:<target code>`) for `unit`, by default the plan's city."""
        async with self.sessionmaker() as session:
            plan = await find_plan(session, target_id.split(":", 1)[0])
            target = plan.target(target_id)
            if target is None:
                raise NotFound(f"Không tìm thấy chỉ tiêu '{target_id}' (target not found)")
            unit = unit or plan.city_unit
            return await self._progress(session, plan, target, unit, await unit_values(session, plan, unit))

    async def indicator_values(self, plan_code: str, code: str, unit: str, first: str, last: str) -> IndicatorSeries:
        """The indicator's values for `unit` from period `first` to `last` (both normalised, inclusive)."""
        async with self.sessionmaker() as session:
            plan = await find_plan(session, plan_code)
            indicator = next((i for i in plan.indicators if i.code == code), None)
            if indicator is None:
                raise NotFound(f"Không tìm thấy chỉ số '{code}' (indicator not found)")
            if indicator.kind == "change":
                # Derived from its base indicator on every read, so it is never stored.
                derived = await series(session, plan, code, unit)
                points = [ValueAt(period_of(p.on), p.on, p.value) for p in derived.points]
            else:
                rows = await session.scalars(
                    select(IndicatorValue)
                    .where(
                        IndicatorValue.plan_code == plan.code,
                        IndicatorValue.indicator_code == code,
                        IndicatorValue.unit_code == unit,
                    )
                    .order_by(IndicatorValue.period)
                )
                points = [
                    ValueAt(r.period, period_end(r.period), r.value, r.numerator, r.denominator, r.members)
                    for r in rows
                ]
        return IndicatorSeries(plan, indicator, unit, [p for p in points if first <= p.period <= last])

    async def _progress(
        self, session: AsyncSession, plan: PlanDocument, target: TargetDef, unit: str, values: Values
    ) -> TargetProgress:
        today = self.clock.today()
        goal = target.threshold
        if target.scope == "each_district" and unit == plan.city_unit:
            # At the city, an each-district target counts districts: its goal is every one of them.
            result = await across_districts(session, plan, target, today)
            goal = Decimal(len(await districts(session, plan.city_unit)))
        else:
            result = progress_from(plan, target, values, today)
        lead, coordinating = await responsible(session, plan, target, unit)
        return TargetProgress(plan, target, unit, result, goal, lead, coordinating)
