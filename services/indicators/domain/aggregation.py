"""Incremental maintenance of the per-unit sums and of the time series of values.

For one changed cooperative: recompute its contributions from the earliest affected period, subtract the
old ones from their unit's sums and add the new ones (a move between units or a dissolution is just that),
then recompute the values of the touched units and of every unit above them. The work depends on the number
of periods, indicators and units touched — never on how many cooperatives exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicators.db.models import (
    Aggregate,
    Contribution,
    IndicatorValue,
    OrgUnit,
    ProfileChange,
    StatusSnapshot,
)
from services.indicators.domain.measures import value_of
from services.indicators.domain.plans import PlanDocument
from services.indicators.domain.projection import Change, contributions_for, history_of
from shared.events.contracts import IndicatorValueV1
from shared.messaging.outbox import Outbox

Touched = set[tuple[str, str]]  # (period, leaf unit)


async def refresh_contributions(session: AsyncSession, plan: PlanDocument, change: Change) -> Touched:
    profiles, snapshots = await history_of(session, change.cooperative_id)
    fresh = {c.period: c for c in contributions_for(plan, profiles, snapshots) if c.period >= change.from_period}
    stored = {
        row.period: row
        for row in await session.scalars(
            select(Contribution).where(
                Contribution.plan_code == plan.code,
                Contribution.cooperative_id == change.cooperative_id,
                Contribution.period >= change.from_period,
            )
        )
    }
    touched: Touched = set()
    for period in sorted(set(fresh) | set(stored)):
        old, new = stored.get(period), fresh.get(period)
        if old is not None and new is not None and old.unit_code == new.unit_code and old.parts == new.parts:
            continue
        if old is not None:
            await add_to_sums(session, plan.code, old.unit_code, period, old.parts, sign=-1)
            touched.add((period, old.unit_code))
        if new is not None:
            await add_to_sums(session, plan.code, new.unit_code, period, new.parts, sign=+1)
            touched.add((period, new.unit_code))
            if old is None:
                session.add(
                    Contribution(
                        plan_code=plan.code,
                        cooperative_id=change.cooperative_id,
                        period=period,
                        unit_code=new.unit_code,
                        parts=new.parts,
                    )
                )
            else:
                old.unit_code, old.parts = new.unit_code, new.parts
        elif old is not None:
            await session.execute(
                delete(Contribution).where(
                    Contribution.plan_code == plan.code,
                    Contribution.cooperative_id == change.cooperative_id,
                    Contribution.period == period,
                )
            )
    return touched


async def refresh_contributions_many(session: AsyncSession, plan: PlanDocument, changes: Sequence[Change]) -> Touched:
    """:func:`refresh_contributions` for several cooperatives at once (one change each), with the same result.

    Histories and stored contributions are read in three queries for all of them, and the sum deltas are added
    up per (indicator, unit, period) and written in one statement."""
    if not changes:
        return set()
    from_period = {c.cooperative_id: c.from_period for c in changes}
    ids = list(from_period)
    profiles: dict[object, list[ProfileChange]] = defaultdict(list)
    # populate_existing: the projection rows were just written with Core statements (`apply_status_events`).
    for p in await session.scalars(
        select(ProfileChange).where(ProfileChange.cooperative_id.in_(ids)).execution_options(populate_existing=True)
    ):
        profiles[p.cooperative_id].append(p)
    snapshots: dict[object, list[StatusSnapshot]] = defaultdict(list)
    for snap in await session.scalars(
        select(StatusSnapshot).where(StatusSnapshot.cooperative_id.in_(ids)).execution_options(populate_existing=True)
    ):
        snapshots[snap.cooperative_id].append(snap)
    stored_by: dict[object, dict[str, Contribution]] = defaultdict(dict)
    for row in await session.scalars(
        select(Contribution).where(
            Contribution.plan_code == plan.code,
            Contribution.cooperative_id.in_(ids),
            Contribution.period >= min(from_period.values()),
        )
    ):
        if row.period >= from_period[row.cooperative_id]:
            stored_by[row.cooperative_id][row.period] = row
    deltas: dict[tuple[str, str, str], list[Decimal]] = {}  # (indicator, unit, period) → [num, den, members]

    def add(unit: str, period: str, parts: dict[str, list[str]], sign: int) -> None:
        for code, (num, den) in parts.items():
            acc = deltas.setdefault((code, unit, period), [Decimal(0), Decimal(0), Decimal(0)])
            acc[0] += sign * Decimal(num)
            acc[1] += sign * Decimal(den)
            acc[2] += sign

    touched: Touched = set()
    for cooperative_id in ids:
        start = from_period[cooperative_id]
        fresh = {
            c.period: c
            for c in contributions_for(plan, profiles[cooperative_id], snapshots[cooperative_id])
            if c.period >= start
        }
        stored = stored_by[cooperative_id]
        for period in sorted(set(fresh) | set(stored)):
            old, new = stored.get(period), fresh.get(period)
            if old is not None and new is not None and old.unit_code == new.unit_code and old.parts == new.parts:
                continue
            if old is not None:
                add(old.unit_code, period, old.parts, -1)
                touched.add((period, old.unit_code))
            if new is not None:
                add(new.unit_code, period, new.parts, +1)
                touched.add((period, new.unit_code))
                if old is None:
                    session.add(
                        Contribution(
                            plan_code=plan.code,
                            cooperative_id=cooperative_id,
                            period=period,
                            unit_code=new.unit_code,
                            parts=new.parts,
                        )
                    )
                else:
                    old.unit_code, old.parts = new.unit_code, new.parts
            elif old is not None:
                await session.execute(
                    delete(Contribution).where(
                        Contribution.plan_code == plan.code,
                        Contribution.cooperative_id == cooperative_id,
                        Contribution.period == period,
                    )
                )
    rows = [
        {
            "plan_code": plan.code,
            "indicator_code": code,
            "unit_code": unit,
            "period": period,
            "numerator": num,
            "denominator": den,
            "members": int(members),
        }
        for (code, unit, period), (num, den, members) in sorted(deltas.items())
    ]
    if rows:
        await session.execute(_ADD_TO_SUMS, rows)
    return touched


async def add_to_sums(
    session: AsyncSession, plan_code: str, unit: str, period: str, parts: dict[str, list[str]], *, sign: int
) -> None:
    rows = [
        {
            "plan_code": plan_code,
            "indicator_code": code,
            "unit_code": unit,
            "period": period,
            "numerator": sign * Decimal(num),
            "denominator": sign * Decimal(den),
            "members": sign,
        }
        for code, (num, den) in sorted(parts.items())
    ]
    await session.execute(_ADD_TO_SUMS, rows)


_insert = insert(Aggregate)
# One cached statement, run as executemany: adds the deltas to existing sums or creates the rows.
_ADD_TO_SUMS = _insert.on_conflict_do_update(
    index_elements=["plan_code", "indicator_code", "unit_code", "period"],
    set_={
        "numerator": Aggregate.numerator + _insert.excluded.numerator,
        "denominator": Aggregate.denominator + _insert.excluded.denominator,
        "members": Aggregate.members + _insert.excluded.members,
    },
)


# -- the tree ------------------------------------------------------------------------------------------


async def ancestors(session: AsyncSession, unit: str) -> list[str]:
    chain: list[str] = []
    current: str | None = unit
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = await session.scalar(select(OrgUnit.parent_code).where(OrgUnit.code == current))
    return chain


async def subtree(session: AsyncSession, root: str) -> set[str]:
    units = {root}
    frontier = {root}
    while frontier:
        children = set((await session.scalars(select(OrgUnit.code).where(OrgUnit.parent_code.in_(frontier)))).all())
        frontier = children - units
        units |= frontier
    return units


async def districts(session: AsyncSession, city: str) -> list[str]:
    return sorted((await session.scalars(select(OrgUnit.code).where(OrgUnit.parent_code == city))).all())


# -- values ---------------------------------------------------------------------------------------------


async def units_to_refresh(session: AsyncSession, plan: PlanDocument, touched: Touched) -> set[tuple[str, str]]:
    """Each touched (period, unit), every unit above it, and the city (the roll-up of everything)."""
    result: set[tuple[str, str]] = set()
    chains: dict[str, list[str]] = {}
    for period, unit in touched:
        if unit not in chains:
            chains[unit] = await ancestors(session, unit)
        for above in chains[unit]:
            result.add((period, above))
        result.add((period, plan.city_unit))
    return result


async def refresh_values(
    session: AsyncSession, plan: PlanDocument, targets: set[tuple[str, str]], outbox: Outbox | None, now: datetime
) -> set[str]:
    """Recompute the values of (period, unit) pairs; publish the ones that changed. Returns the units changed."""
    changed_units: set[str] = set()
    events: list[IndicatorValueV1] = []
    for period, unit in sorted(targets):
        sums = await _sums(session, plan, period, unit)
        stored = {
            row.indicator_code: row
            for row in await session.scalars(
                select(IndicatorValue)
                .where(
                    IndicatorValue.plan_code == plan.code,
                    IndicatorValue.unit_code == unit,
                    IndicatorValue.period == period,
                )
                .with_for_update()
            )
        }
        for indicator in plan.base_indicators:
            numerator, denominator, members = sums.get(indicator.code, (Decimal(0), Decimal(0), 0))
            value = value_of(indicator, numerator, denominator, members)
            row = stored.get(indicator.code)
            if row is not None and (row.value, row.numerator, row.denominator, row.members) == (
                value,
                numerator,
                denominator,
                members,
            ):
                continue
            if row is None:
                if members == 0:
                    continue  # nothing has ever been reported here
                row = IndicatorValue(
                    plan_code=plan.code, indicator_code=indicator.code, unit_code=unit, period=period, version=0
                )
                session.add(row)
            value_changed = row.value != value
            row.numerator, row.denominator, row.members, row.value = numerator, denominator, members, value
            row.version += 1
            row.computed_at = now
            changed_units.add(unit)
            if value_changed:
                events.append(
                    IndicatorValueV1(
                        plan_code=plan.code,
                        indicator_code=indicator.code,
                        unit_code=unit,
                        period=period,
                        value=value,
                        numerator=numerator,
                        denominator=denominator,
                        version=row.version,
                        computed_at=now,
                    )
                )
    if outbox is not None:
        await outbox.add_many(session, events, occurred_at=now)
    await session.flush()  # the assessment that follows reads these values with plain SELECTs
    return changed_units


async def _sums(
    session: AsyncSession, plan: PlanDocument, period: str, unit: str
) -> dict[str, tuple[Decimal, Decimal, int]]:
    stmt = (
        select(
            Aggregate.indicator_code,
            func.sum(Aggregate.numerator),
            func.sum(Aggregate.denominator),
            func.sum(Aggregate.members),
        )
        .where(Aggregate.plan_code == plan.code, Aggregate.period == period)
        .group_by(Aggregate.indicator_code)
    )
    if unit != plan.city_unit:  # the city is everything this plan covers, even units not yet known here
        stmt = stmt.where(Aggregate.unit_code.in_(await subtree(session, unit)))
    result: dict[str, tuple[Decimal, Decimal, int]] = defaultdict(lambda: (Decimal(0), Decimal(0), 0))
    for code, numerator, denominator, members in (await session.execute(stmt)).all():
        result[code] = (Decimal(numerator), Decimal(denominator), int(members))
    return result
