"""Each target's progress per unit, stored, and published only when its status changes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import String, Table, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicators.db.bulk import as_columns, bulk_insert, bulk_upsert
from services.indicators.db.models import IndicatorValue, TargetStatus
from services.indicators.domain.aggregation import districts
from services.indicators.domain.measures import change_vs
from services.indicators.domain.periods import period_end
from services.indicators.domain.plans import DISTRICT_COMMITTEE, DISTRICT_COMMITTEES, PlanDocument, TargetDef
from services.indicators.domain.progress import STATUS_VI, Goal, Point, Progress, evaluate
from services.indicators.domain.tree import OrgTree
from shared.events.contracts import TargetStatusV1
from shared.messaging.outbox import Outbox


@dataclass(frozen=True)
class Series:
    baseline: Point | None
    points: list[Point]  # from the baseline period on, oldest first


Values = dict[str, dict[str, Decimal]]  # indicator → period → value, for one unit


_VALUES = cast(Table, IndicatorValue.__table__)
_TARGETS = cast(Table, TargetStatus.__table__)
_UNITS = bindparam("units", type_=ARRAY(String()))
_READ_VALUES = select(_VALUES.c.unit_code, _VALUES.c.indicator_code, _VALUES.c.period, _VALUES.c.value).where(
    _VALUES.c.plan_code == bindparam("plan_code"), _VALUES.c.unit_code == any_(_UNITS), _VALUES.c.value.is_not(None)
)


async def units_values(session: AsyncSession, plan: PlanDocument, units: Iterable[str]) -> dict[str, Values]:
    """The values of several units in one read; a unit with none has an empty `Values`."""
    wanted = sorted(set(units))
    values: dict[str, Values] = {unit: {} for unit in wanted}
    if wanted:
        for unit, code, period, value in (
            await session.execute(_READ_VALUES, {"plan_code": plan.code, "units": wanted})
        ).all():
            values[unit].setdefault(code, {})[period] = Decimal(value)
    return values


async def unit_values(session: AsyncSession, plan: PlanDocument, unit: str) -> Values:
    return (await units_values(session, plan, [unit]))[unit]


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


async def scope_units(session: AsyncSession, plan: PlanDocument, target: TargetDef) -> list[str]:
    return [plan.city_unit] if target.scope == "city" else await districts(session, plan.city_unit)


async def responsible(session: AsyncSession, plan: PlanDocument, target: TargetDef, unit: str) -> tuple[str, list[str]]:
    """Lead and coordinating agencies; routing is data (the plan), with the district placeholders resolved."""
    needs_districts = DISTRICT_COMMITTEES in target.coordinating
    return responsible_in(plan, target, unit, await districts(session, plan.city_unit) if needs_districts else [])


def responsible_in(
    plan: PlanDocument, target: TargetDef, unit: str, district_units: list[str]
) -> tuple[str, list[str]]:
    lead = f"UBND-{unit}" if target.lead == DISTRICT_COMMITTEE else target.lead
    coordinating: list[str] = []
    for code in target.coordinating:
        if code == DISTRICT_COMMITTEES:
            coordinating += [f"UBND-{d}" for d in district_units]
        else:
            coordinating.append(code)
    return lead, [c for c in dict.fromkeys(coordinating) if c != lead]


_LOCK_TARGETS = (
    select(
        _TARGETS.c.target_id,
        _TARGETS.c.unit_code,
        _TARGETS.c.status,
        _TARGETS.c.ratio,
        _TARGETS.c.baseline,
        _TARGETS.c.current,
        _TARGETS.c.projection,
        _TARGETS.c.explanation,
        _TARGETS.c.version,
    )
    .where(_TARGETS.c.plan_code == bindparam("plan_code"), _TARGETS.c.unit_code == any_(_UNITS))
    .order_by(_TARGETS.c.target_id, _TARGETS.c.unit_code)
    .with_for_update()
)
_TARGET_ROW = (
    "target_id",
    "unit_code",
    "plan_code",
    "target_code",
    "status",
    "ratio",
    "baseline",
    "current",
    "projection",
    "explanation",
    "version",
    "evaluated_at",
)
_INSERT_TARGETS = bulk_insert(_TARGETS, _TARGET_ROW)
# Run for rows read (and locked) above, so the conflict always happens: an update of the evaluation.
_UPDATE_TARGETS = bulk_upsert(_TARGETS, _TARGET_ROW, ["target_id", "unit_code"], _TARGET_ROW[4:])


async def assess(
    session: AsyncSession,
    plan: PlanDocument,
    units: set[str] | None,
    outbox: Outbox | None,
    today: date,
    now: datetime,
    *,
    tree: OrgTree | None = None,
) -> int:
    """Re-evaluate every target of `plan` for the given units (None: all units in scope). Returns events sent.

    Four statements whatever the number of targets: lock the stored statuses, read the units' values, write
    the new statuses and the changed ones' events."""
    if tree is None:
        tree = await OrgTree.load(session)
    district_units = tree.districts(plan.city_unit)
    wanted = {plan.city_unit, *district_units} if units is None else units
    evaluated = [
        (target, unit)
        for target in plan.targets
        for unit in ([plan.city_unit] if target.scope == "city" else district_units)
        if unit in wanted
    ]
    if not evaluated:
        return 0
    stored = {
        (row.target_id, row.unit_code): row
        for row in (await session.execute(_LOCK_TARGETS, {"plan_code": plan.code, "units": sorted(wanted)})).all()
    }
    values_by_unit = await units_values(session, plan, {unit for _, unit in evaluated})
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    events: list[TargetStatusV1] = []
    for target, unit in evaluated:
        result = progress_from(plan, target, values_by_unit[unit], today)
        target_id = plan.target_id(target)
        row = stored.get((target_id, unit))
        old_status = row.status if row is not None else None
        numbers = (result.ratio, _v(result.baseline), _v(result.current), result.projection, result.explanation)
        if row is not None and (old_status, numbers) == (
            result.status,
            (row.ratio, row.baseline, row.current, row.projection, row.explanation),
        ):
            continue
        version = 1 if row is None else row.version + 1
        (inserts if row is None else updates).append(
            {
                "target_id": target_id,
                "unit_code": unit,
                "plan_code": plan.code,
                "target_code": target.code,
                "status": result.status,
                "ratio": result.ratio,
                "baseline": numbers[1],
                "current": numbers[2],
                "projection": result.projection,
                "explanation": result.explanation,
                "version": version,
                "evaluated_at": now,
            }
        )
        if outbox is not None and old_status != result.status:
            lead, coordinating = responsible_in(plan, target, unit, district_units)
            events.append(
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
                    version=version,
                    changed_at=now,
                )
            )
    # New rows are plain inserts: a replica racing on the same new status fails (and its batch is retried).
    if inserts:
        await session.execute(_INSERT_TARGETS, as_columns(inserts, _TARGET_ROW))
    if updates:
        await session.execute(_UPDATE_TARGETS, as_columns(updates, _TARGET_ROW))
    if outbox is not None:
        await outbox.add_many(session, events, occurred_at=now)
    return len(events)


def _v(point: Point | None) -> Decimal | None:
    return point.value if point is not None else None


async def across_districts(session: AsyncSession, plan: PlanDocument, target: TargetDef, today: date) -> Progress:
    """A per-district target seen from the city: achieved only when every district has achieved it."""
    units = await districts(session, plan.city_unit)
    values = await units_values(session, plan, units)
    results = {unit: progress_from(plan, target, values[unit], today) for unit in units}
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
