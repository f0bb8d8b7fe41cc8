"""Incremental maintenance of the per-unit sums and of the time series of values.

For one changed cooperative: recompute its contributions from the earliest affected period, subtract the
old ones from their unit's sums and add the new ones (a move between units or a dissolution is just that),
then recompute the values of the touched units and of every unit above them. The work depends on the number
of periods, indicators and units touched — never on how many cooperatives exist.

Rows are read and written with Core statements built once at import (so SQLAlchemy compiles each once and
asyncpg prepares each once: lists go in as one array parameter, `= ANY(:ids)`), never as ORM instances: a
batch of events writes hundreds of rows, and the identity map's bookkeeping would cost more than the SQL.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, any_, bindparam, delete, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import UUID, String

from services.indicators.db.bulk import as_columns, bulk_insert, bulk_upsert
from services.indicators.db.models import (
    Aggregate,
    Contribution,
    IndicatorValue,
    OrgUnit,
)
from services.indicators.domain.measures import ONE, ZERO, value_of
from services.indicators.domain.plans import PlanDocument
from services.indicators.domain.projection import Change, contributions_for, histories
from services.indicators.domain.tree import OrgTree
from shared.events.contracts import IndicatorValueV1
from shared.messaging.outbox import Outbox

Touched = set[tuple[str, str]]  # (period, leaf unit)

_CONTRIBUTIONS = cast(Table, Contribution.__table__)
_AGGREGATES = cast(Table, Aggregate.__table__)
_VALUES = cast(Table, IndicatorValue.__table__)

_IDS = bindparam("ids", type_=ARRAY(UUID()))
_UNITS = bindparam("units", type_=ARRAY(String()))
_PERIODS = bindparam("periods", type_=ARRAY(String()))

_READ_CONTRIBUTIONS = select(
    _CONTRIBUTIONS.c.cooperative_id, _CONTRIBUTIONS.c.period, _CONTRIBUTIONS.c.unit_code, _CONTRIBUTIONS.c.parts
).where(
    _CONTRIBUTIONS.c.plan_code == bindparam("plan_code"),
    _CONTRIBUTIONS.c.cooperative_id == any_(_IDS),
    _CONTRIBUTIONS.c.period >= bindparam("from_period"),
)
_CONTRIBUTION_ROW = ("plan_code", "cooperative_id", "period", "unit_code", "parts")
_UPSERT_CONTRIBUTIONS = bulk_upsert(
    _CONTRIBUTIONS, _CONTRIBUTION_ROW, ["plan_code", "cooperative_id", "period"], ["unit_code", "parts"]
)
_DELETE_CONTRIBUTION = delete(_CONTRIBUTIONS).where(
    _CONTRIBUTIONS.c.plan_code == bindparam("p_plan_code"),
    _CONTRIBUTIONS.c.cooperative_id == bindparam("p_cooperative_id"),
    _CONTRIBUTIONS.c.period == bindparam("p_period"),
)
_SUM_ROW = ("plan_code", "indicator_code", "unit_code", "period", "numerator", "denominator", "members")
_insert_sums = bulk_insert(_AGGREGATES, _SUM_ROW)
# Adds the deltas to existing sums or creates the rows (one row per key: the deltas are added up first).
_ADD_TO_SUMS = _insert_sums.on_conflict_do_update(
    index_elements=["plan_code", "indicator_code", "unit_code", "period"],
    set_={
        "numerator": _AGGREGATES.c.numerator + _insert_sums.excluded.numerator,
        "denominator": _AGGREGATES.c.denominator + _insert_sums.excluded.denominator,
        "members": _AGGREGATES.c.members + _insert_sums.excluded.members,
    },
)


async def refresh_contributions(session: AsyncSession, plan: PlanDocument, changes: Sequence[Change]) -> Touched:
    """Bring the contributions of the changed cooperatives (one change each) and the sums they add to up to
    date. Histories and stored contributions are read in three queries for all of them, the contributions
    written in one statement (and one for those that disappeared), and the sum deltas added up per
    (indicator, unit, period) and written in one statement. Returns the (period, unit) pairs whose sums moved."""
    if not changes:
        return set()
    from_period = {c.cooperative_id: c.from_period for c in changes}
    ids = list(from_period)
    profiles, snapshots = await histories(session, ids)
    stored_by: dict[uuid.UUID, dict[str, Any]] = defaultdict(dict)
    since = min(from_period.values())
    for row in (
        await session.execute(_READ_CONTRIBUTIONS, {"plan_code": plan.code, "ids": ids, "from_period": since})
    ).all():
        if row.period >= from_period[row.cooperative_id]:
            stored_by[row.cooperative_id][row.period] = row
    deltas: dict[tuple[str, str, str], list[Any]] = {}  # (indicator, unit, period) → [num, den, members]

    def add(unit: str, period: str, amounts: dict[str, tuple[Decimal, Decimal]], sign: int) -> None:
        for code, (num, den) in amounts.items():
            acc = deltas.get((code, unit, period))
            if acc is None:
                acc = deltas[(code, unit, period)] = [ZERO, ZERO, 0]
            if num:  # a zero changes no sum (they are stored at a fixed scale)
                acc[0] += num if sign > 0 else -num
            if den:
                acc[1] += den if sign > 0 else -den
            acc[2] += sign

    touched: Touched = set()
    written: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    for cooperative_id in ids:
        start = from_period[cooperative_id]
        fresh = {
            c.period: c
            for c in contributions_for(plan, profiles.get(cooperative_id, []), snapshots.get(cooperative_id, []), start)
        }
        stored = stored_by[cooperative_id]
        for period in sorted(set(fresh) | set(stored)):
            old, new = stored.get(period), fresh.get(period)
            if old is not None and new is not None and old.unit_code == new.unit_code and old.parts == new.parts:
                continue
            if old is not None:
                add(old.unit_code, period, _amounts(old.parts), -1)
                touched.add((period, old.unit_code))
            if new is not None:
                add(new.unit_code, period, new.amounts, +1)
                touched.add((period, new.unit_code))
                written.append(
                    {
                        "plan_code": plan.code,
                        "cooperative_id": cooperative_id,
                        "period": period,
                        "unit_code": new.unit_code,
                        "parts": new.parts,
                    }
                )
            elif old is not None:
                removed.append({"p_plan_code": plan.code, "p_cooperative_id": cooperative_id, "p_period": period})
    if written:
        await session.execute(_UPSERT_CONTRIBUTIONS, as_columns(written, _CONTRIBUTION_ROW))
    if removed:
        await session.execute(_DELETE_CONTRIBUTION, removed)
    rows = [
        {
            "plan_code": plan.code,
            "indicator_code": code,
            "unit_code": unit,
            "period": period,
            "numerator": num,
            "denominator": den,
            "members": members,
        }
        for (code, unit, period), (num, den, members) in sorted(deltas.items())
    ]
    if rows:
        await session.execute(_ADD_TO_SUMS, as_columns(rows, _SUM_ROW))
    return touched


_NUMBERS = {"0": ZERO, "1": ONE}  # most parts: outside a population, or a cooperative counted once


def _amounts(parts: dict[str, list[str]]) -> dict[str, tuple[Decimal, Decimal]]:
    """Stored parts ({indicator: [numerator, denominator]} as decimal strings) as numbers."""
    return {code: (_number(num), _number(den)) for code, (num, den) in parts.items()}


def _number(text: str) -> Decimal:
    known = _NUMBERS.get(text)
    return Decimal(text) if known is None else known


# -- the tree ------------------------------------------------------------------------------------------


async def districts(session: AsyncSession, city: str) -> list[str]:
    return sorted((await session.scalars(select(OrgUnit.code).where(OrgUnit.parent_code == city))).all())


# -- values ---------------------------------------------------------------------------------------------


def units_to_refresh(plan: PlanDocument, touched: Touched, tree: OrgTree) -> set[tuple[str, str]]:
    """Each touched (period, unit), every unit above it, and the city (the roll-up of everything)."""
    result: set[tuple[str, str]] = set()
    chains: dict[str, list[str]] = {}
    for period, unit in touched:
        if unit not in chains:
            chains[unit] = tree.ancestors(unit)
        for above in chains[unit]:
            result.add((period, above))
        result.add((period, plan.city_unit))
    return result


# The stored values are locked (in key order, so replicas lock alike) before the sums are read: a replica
# waiting here then reads sums that include what the other one committed.
_LOCK_VALUES = (
    select(
        _VALUES.c.indicator_code,
        _VALUES.c.unit_code,
        _VALUES.c.period,
        _VALUES.c.numerator,
        _VALUES.c.denominator,
        _VALUES.c.members,
        _VALUES.c.value,
        _VALUES.c.version,
    )
    .where(
        _VALUES.c.plan_code == bindparam("plan_code"),
        _VALUES.c.unit_code == any_(_UNITS),
        _VALUES.c.period == any_(_PERIODS),
    )
    .order_by(_VALUES.c.indicator_code, _VALUES.c.unit_code, _VALUES.c.period)
    .with_for_update()
)
_READ_SUMS = select(
    _AGGREGATES.c.period,
    _AGGREGATES.c.unit_code,
    _AGGREGATES.c.indicator_code,
    _AGGREGATES.c.numerator,
    _AGGREGATES.c.denominator,
    _AGGREGATES.c.members,
).where(_AGGREGATES.c.plan_code == bindparam("plan_code"), _AGGREGATES.c.period == any_(_PERIODS))
_VALUE_ROW = (
    "plan_code",
    "indicator_code",
    "unit_code",
    "period",
    "numerator",
    "denominator",
    "members",
    "value",
    "version",
    "computed_at",
)
_INSERT_VALUES = bulk_insert(_VALUES, _VALUE_ROW)
_UPDATE_VALUES = bulk_upsert(
    _VALUES, _VALUE_ROW, _VALUE_ROW[:4], ["numerator", "denominator", "members", "value", "version", "computed_at"]
)

Sums = dict[str, tuple[Decimal, Decimal, int]]  # indicator → (Σ numerator, Σ denominator, Σ members)


async def refresh_values(
    session: AsyncSession,
    plan: PlanDocument,
    targets: set[tuple[str, str]],
    outbox: Outbox | None,
    now: datetime,
    *,
    tree: OrgTree | None = None,
) -> set[str]:
    """Recompute the values of (period, unit) pairs; publish the ones that changed. Returns the units changed.

    Three statements whatever the number of pairs: lock the stored values, read the sums of the periods
    (per unit: a few rows per indicator), write the changed values; a unit's value rolls its subtree up here."""
    if not targets:
        return set()
    if tree is None:
        tree = await OrgTree.load(session)
    periods = sorted({period for period, _ in targets})
    stored = {
        (row.indicator_code, row.unit_code, row.period): row
        for row in (
            await session.execute(
                _LOCK_VALUES,
                {"plan_code": plan.code, "units": sorted({unit for _, unit in targets}), "periods": periods},
            )
        ).all()
    }
    by_period: dict[str, list[Any]] = defaultdict(list)
    for sums_row in (await session.execute(_READ_SUMS, {"plan_code": plan.code, "periods": periods})).all():
        by_period[sums_row.period].append(sums_row)
    subtrees: dict[str, set[str]] = {}
    changed_units: set[str] = set()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    events: list[IndicatorValueV1] = []
    for period, unit in sorted(targets):
        if unit == plan.city_unit:
            scope = None  # the city is everything this plan covers, even units not yet known here
        elif unit in subtrees:
            scope = subtrees[unit]
        else:
            scope = subtrees[unit] = tree.subtree(unit)
        sums = _sums(by_period[period], scope)
        for indicator in plan.base_indicators:
            numerator, denominator, members = sums.get(indicator.code, (Decimal(0), Decimal(0), 0))
            value = value_of(indicator, numerator, denominator, members)
            row = stored.get((indicator.code, unit, period))
            if row is not None and (row.value, row.numerator, row.denominator, row.members) == (
                value,
                numerator,
                denominator,
                members,
            ):
                continue
            if row is None and members == 0:
                continue  # nothing has ever been reported here
            version = 1 if row is None else row.version + 1
            (inserts if row is None else updates).append(
                {
                    "plan_code": plan.code,
                    "indicator_code": indicator.code,
                    "unit_code": unit,
                    "period": period,
                    "numerator": numerator,
                    "denominator": denominator,
                    "members": members,
                    "value": value,
                    "version": version,
                    "computed_at": now,
                }
            )
            changed_units.add(unit)
            if (None if row is None else row.value) != value:
                events.append(
                    IndicatorValueV1(
                        plan_code=plan.code,
                        indicator_code=indicator.code,
                        unit_code=unit,
                        period=period,
                        value=value,
                        numerator=numerator,
                        denominator=denominator,
                        version=version,
                        computed_at=now,
                    )
                )
    # New rows are plain inserts: a replica racing on the same new value fails (and its batch is retried).
    if inserts:
        await session.execute(_INSERT_VALUES, as_columns(inserts, _VALUE_ROW))
    if updates:
        await session.execute(_UPDATE_VALUES, as_columns(updates, _VALUE_ROW))
    if outbox is not None:
        await outbox.add_many(session, events, occurred_at=now)
    return changed_units


def _sums(rows: Sequence[Any], scope: set[str] | None) -> Sums:
    """Σ over the rows of the units in `scope` (None: all), per indicator — what SQL `sum()` gives."""
    acc: dict[str, list[Any]] = {}
    for row in rows:
        if scope is not None and row.unit_code not in scope:
            continue
        known = acc.get(row.indicator_code)
        if known is None:
            acc[row.indicator_code] = [row.numerator, row.denominator, row.members]
        else:
            known[0] += row.numerator
            known[1] += row.denominator
            known[2] += row.members
    return {code: (Decimal(n), Decimal(d), int(m)) for code, (n, d, m) in acc.items()}
