"""Each target's progress per unit, stored, and published only when its status changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicators.db.models import IndicatorValue, TargetStatus
from services.indicators.domain.aggregation import districts
from services.indicators.domain.measures import change_vs
from services.indicators.domain.periods import period_end
from services.indicators.domain.plans import DISTRICT_COMMITTEE, DISTRICT_COMMITTEES, PlanDocument, TargetDef
from services.indicators.domain.progress import STATUS_VI, Goal, Point, Progress, evaluate
from shared.events.contracts import TargetStatusV1
from shared.messaging.outbox import Outbox


@dataclass(frozen=True)
class Series:
    baseline: Point | None
    points: list[Point]  # from the baseline period on, oldest first


Values = dict[str, dict[str, Decimal]]  # indicator → period → value, for one unit


async def unit_values(session: AsyncSession, plan: PlanDocument, unit: str) -> Values:
    rows = await session.execute(
        select(IndicatorValue.indicator_code, IndicatorValue.period, IndicatorValue.value).where(
            IndicatorValue.plan_code == plan.code, IndicatorValue.unit_code == unit, IndicatorValue.value.is_not(None)
        )
    )
    values: Values = {}
    for code, period, value in rows.all():
        if value is not None:
            values.setdefault(code, {})[period] = Decimal(value)
    return values


def series_from(plan: PlanDocument, indicator_code: str, values: Values) -> Series:
    """A unit's values of an indicator; a `change` indicator is derived from its base against the baseline."""
    indicator = plan.indicator(indicator_code)
    base_code = indicator.base if indicator.kind == "change" and indicator.base else indicator_code
    own = values.get(base_code, {})
    base_value = own.get(plan.baseline_period)
    later = [(p, v) for p, v in sorted(own.items()) if p >= plan.baseline_period]
    if indicator.kind != "change":
        baseline = Point(period_end(plan.baseline_period), base_value) if base_value is not None else None
        return Series(baseline, [Point(period_end(p), v) for p, v in later])
    if base_value is None:
        return Series(None, [])
    points = []
    for period, value in later:
        change = change_vs(base_value, value)
        if change is not None:
            points.append(Point(period_end(period), change))
    return Series(points[0] if points else None, points)


async def series(session: AsyncSession, plan: PlanDocument, indicator_code: str, unit: str) -> Series:
    return series_from(plan, indicator_code, await unit_values(session, plan, unit))


def goal_of(target: TargetDef) -> Goal:
    assert target.threshold is not None
    return Goal(
        threshold=target.threshold,
        deadline=target.deadline,
        direction=target.direction,
        strict=target.strict,
        yes_no=target.yes_no,
    )


def progress_from(plan: PlanDocument, target: TargetDef, values: Values, today: date) -> Progress:
    if target.qualitative or target.indicator is None:
        return Progress(
            "qualitative",
            None,
            None,
            None,
            None,
            f"{STATUS_VI['qualitative'].capitalize()} (qualitative): {target.title}.",
        )
    s = series_from(plan, target.indicator, values)
    unit_label = plan.indicator(target.indicator).unit
    if target.yes_no:
        return evaluate(goal_of(target), None, s.points[-1:], today, unit=unit_label)
    return evaluate(goal_of(target), s.baseline, s.points, today, unit=unit_label)


async def progress_of(session: AsyncSession, plan: PlanDocument, target: TargetDef, unit: str, today: date) -> Progress:
    return progress_from(plan, target, await unit_values(session, plan, unit), today)


async def scope_units(session: AsyncSession, plan: PlanDocument, target: TargetDef) -> list[str]:
    return [plan.city_unit] if target.scope == "city" else await districts(session, plan.city_unit)


async def responsible(session: AsyncSession, plan: PlanDocument, target: TargetDef, unit: str) -> tuple[str, list[str]]:
    """Lead and coordinating agencies; routing is data (the plan), with the district placeholders resolved."""
    lead = f"UBND-{unit}" if target.lead == DISTRICT_COMMITTEE else target.lead
    coordinating: list[str] = []
    for code in target.coordinating:
        if code == DISTRICT_COMMITTEES:
            coordinating += [f"UBND-{d}" for d in await districts(session, plan.city_unit)]
        else:
            coordinating.append(code)
    return lead, [c for c in dict.fromkeys(coordinating) if c != lead]


async def assess(
    session: AsyncSession,
    plan: PlanDocument,
    units: set[str] | None,
    outbox: Outbox | None,
    today: date,
    now: datetime,
) -> int:
    """Re-evaluate every target of `plan` for the given units (None: all units in scope). Returns events sent."""
    sent = 0
    district_units = await districts(session, plan.city_unit)
    wanted = {plan.city_unit, *district_units} if units is None else units
    stored = {
        (row.target_id, row.unit_code): row
        for row in await session.scalars(
            select(TargetStatus)
            .where(TargetStatus.plan_code == plan.code, TargetStatus.unit_code.in_(wanted))
            .with_for_update()
        )
    }
    values_by_unit: dict[str, Values] = {}
    for target in plan.targets:
        for unit in [plan.city_unit] if target.scope == "city" else district_units:
            if unit not in wanted:
                continue
            if unit not in values_by_unit:
                values_by_unit[unit] = await unit_values(session, plan, unit)
            result = progress_from(plan, target, values_by_unit[unit], today)
            target_id = plan.target_id(target)
            row = stored.get((target_id, unit))
            old_status = row.status if row is not None else None
            if row is None:
                row = TargetStatus(
                    target_id=target_id, unit_code=unit, plan_code=plan.code, target_code=target.code, version=0
                )
                session.add(row)
            numbers = (result.ratio, _v(result.baseline), _v(result.current), result.projection, result.explanation)
            if old_status == result.status and numbers == (
                row.ratio,
                row.baseline,
                row.current,
                row.projection,
                row.explanation,
            ):
                continue
            row.status, row.ratio, row.explanation = result.status, result.ratio, result.explanation
            row.baseline, row.current, row.projection = numbers[1], numbers[2], result.projection
            row.version += 1
            row.evaluated_at = now
            if outbox is not None and old_status != result.status:
                lead, coordinating = await responsible(session, plan, target, unit)
                await outbox.add(
                    session,
                    TargetStatusV1(
                        plan_code=plan.code,
                        target_id=target_id,
                        target_code=target.code,
                        unit_code=unit,
                        old_status=old_status,
                        new_status=result.status,
                        explanation=result.explanation,
                        baseline=numbers[1],
                        current=numbers[2],
                        target=target.threshold,
                        projection=result.projection,
                        deadline=target.deadline,
                        lead_agency=lead,
                        coordinating_agencies=coordinating,
                        version=row.version,
                        changed_at=now,
                    ),
                    occurred_at=now,
                )
                sent += 1
    return sent


def _v(point: Point | None) -> Decimal | None:
    return point.value if point is not None else None


async def across_districts(session: AsyncSession, plan: PlanDocument, target: TargetDef, today: date) -> Progress:
    """A per-district target seen from the city: achieved only when every district has achieved it."""
    units = await districts(session, plan.city_unit)
    results = {unit: progress_from(plan, target, await unit_values(session, plan, unit), today) for unit in units}
    behind = sorted(unit for unit, result in results.items() if result.status != "achieved")
    if units and not behind:
        status = "achieved"
    else:
        status = "missed" if today > target.deadline else "not_achieved"
    reached = Decimal(len(units) - len(behind))
    explanation = (
        f"{STATUS_VI[status].capitalize()} ({status}): {reached}/{len(units)} quận, huyện đạt chỉ tiêu "
        f"{target.code}" + (f"; chưa đạt: {', '.join(behind)}" if behind else "") + "."
    )
    return Progress(status, None, None, Point(today, reached), None, explanation)
