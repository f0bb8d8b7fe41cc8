"""The indicators service's own picture of each cooperative, built only from `registry.cooperative-status.v1`.

Events are applied in version order per cooperative: an event whose version is not newer than the one held
changes nothing (a late or repeated delivery). From the projection, `contributions_for` derives what a
cooperative adds to each indicator in each period it reported for; the same function serves the incremental
path and the full recompute, which is why the two agree exactly.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, cast

from sqlalchemy import String, Table, and_, any_, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import UUID

from services.indicators.db.bulk import as_columns, bulk_insert, bulk_upsert
from services.indicators.db.models import CooperativeState, ProfileChange, StatusSnapshot
from services.indicators.domain.measures import ONE, ZERO, measure_of
from services.indicators.domain.periods import normalise, period_of
from services.indicators.domain.plans import PlanDocument
from shared.clock import VIETNAM
from shared.events.contracts import CooperativeStatusV1

FROM_THE_START = "0000-H1"  # a cooperative's first profile applies to every period it ever reports


@dataclass(frozen=True)
class Change:
    """What applied events changed for one cooperative: the earliest period whose contributions must be
    recomputed."""

    cooperative_id: uuid.UUID
    from_period: str


_STATES = cast(Table, CooperativeState.__table__)
_PROFILES = cast(Table, ProfileChange.__table__)
_SNAPSHOTS = cast(Table, StatusSnapshot.__table__)
_STATE_COLUMNS = ("version", "registration_code", "name", "unit_code", "legal_status", "sector", "changed_at")
_STATE_ROW = ("cooperative_id", *_STATE_COLUMNS)
_PROFILE_ROW = ("cooperative_id", "effective_period", "unit_code", "legal_status", "sector")
_SNAPSHOT_ROW = ("cooperative_id", "period", "report_id", "as_of", "data")

# One statement per table for the whole batch (db/bulk.py). Existing cooperatives are locked (FOR UPDATE)
# first, so their upsert is an update; new ones are plain inserts, so a replica racing on the same new
# cooperative fails and the batch is retried one event per transaction, which then finds the row and locks it.
_INSERT_STATES = bulk_insert(_STATES, _STATE_ROW)
_UPDATE_STATES = bulk_upsert(_STATES, _STATE_ROW, ["cooperative_id"], _STATE_COLUMNS)
_UPSERT_PROFILES = bulk_upsert(
    _PROFILES, _PROFILE_ROW, ["cooperative_id", "effective_period"], ["unit_code", "legal_status", "sector"]
)
_UPSERT_SNAPSHOTS = bulk_upsert(_SNAPSHOTS, _SNAPSHOT_ROW, ["cooperative_id", "period"], ["report_id", "as_of", "data"])


# Lists go in as arrays (one statement text whatever the batch size, so it is prepared once).
_IDS = bindparam("ids", type_=ARRAY(UUID()))
_LOCK_STATES = (
    select(_STATES).where(_STATES.c.cooperative_id == any_(_IDS)).order_by(_STATES.c.cooperative_id).with_for_update()
)
_WANTED = (
    func.unnest(_IDS, bindparam("periods", type_=ARRAY(String())))
    .table_valued(column("cooperative_id", UUID()), column("period", String()))
    .render_derived(name="wanted")
)
_READ_WANTED_SNAPSHOTS = select(_SNAPSHOTS.c.cooperative_id, _SNAPSHOTS.c.period, _SNAPSHOTS.c.data).join_from(
    _SNAPSHOTS,
    _WANTED,
    and_(_SNAPSHOTS.c.cooperative_id == _WANTED.c.cooperative_id, _SNAPSHOTS.c.period == _WANTED.c.period),
)


def _uuid_order(value: uuid.UUID) -> int:
    return value.int  # PostgreSQL's order of uuids (bytewise), and Python's, without UUID.__lt__ per comparison


def _key_order(key: tuple[uuid.UUID, str]) -> tuple[int, str]:
    return key[0].int, key[1]


async def apply_status_events(session: AsyncSession, events: Sequence[CooperativeStatusV1]) -> list[Change]:
    """Apply the events in order (a single event is a batch of one), set-based: the batch's cooperatives are
    read and locked (in cooperative_id order) and their snapshots read in two queries, the events applied in
    memory, and the resulting rows written with one statement per table.

    Returns one change per cooperative that changed, from the earliest period over its events."""
    if not events:
        return []
    ids = sorted({e.cooperative_id for e in events}, key=_uuid_order)
    states: dict[uuid.UUID, dict[str, Any]] = {
        row.cooperative_id: dict(row._mapping) for row in (await session.execute(_LOCK_STATES, {"ids": ids})).all()
    }
    existing = set(states)
    # Only a cooperative already known here can have snapshots (they are written with its state).
    wanted = sorted(
        {
            (e.cooperative_id, normalise(e.status.period))
            for e in events
            if e.status is not None and e.cooperative_id in existing
        },
        key=_key_order,
    )
    snapshots: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    if wanted:
        pairs = {"ids": [i for i, _ in wanted], "periods": [p for _, p in wanted]}
        for row in (await session.execute(_READ_WANTED_SNAPSHOTS, pairs)).all():
            snapshots[(row.cooperative_id, row.period)] = row.data

    written_states: dict[uuid.UUID, dict[str, Any]] = {}
    written_profiles: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    written_snapshots: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    earliest_of: dict[uuid.UUID, str] = {}
    for event in events:
        cooperative_id = event.cooperative_id
        state = states.get(cooperative_id)
        if state is not None and event.version <= state["version"]:
            continue  # older or repeated version: the newer state is already applied
        profile = (event.unit_code, event.legal_status.value, event.sector.value)
        earliest: str | None = None
        if state is None:
            effective: str | None = FROM_THE_START
        elif (state["unit_code"], state["legal_status"], state["sector"]) != profile:
            effective = period_of(event.changed_at.astimezone(VIETNAM).date())
        else:
            effective = None
        if effective is not None:
            written_profiles[(cooperative_id, effective)] = {
                "cooperative_id": cooperative_id,
                "effective_period": effective,
                "unit_code": profile[0],
                "legal_status": profile[1],
                "sector": profile[2],
            }
            earliest = effective
        state = {
            "cooperative_id": cooperative_id,
            "version": event.version,
            "registration_code": event.registration_code,
            "name": event.name,
            "unit_code": profile[0],
            "legal_status": profile[1],
            "sector": profile[2],
            "changed_at": event.changed_at,
        }
        states[cooperative_id] = written_states[cooperative_id] = state

        if event.status is not None:
            period = normalise(event.status.period)
            data = event.status.model_dump(mode="json")
            key = (cooperative_id, period)
            if key not in snapshots or snapshots[key] != data:
                snapshots[key] = data
                written_snapshots[key] = {
                    "cooperative_id": cooperative_id,
                    "period": period,
                    "report_id": event.status.report_id,
                    "as_of": event.status.as_of,
                    "data": data,
                }
                earliest = min(earliest or period, period)
        if earliest is not None:
            known = earliest_of.get(cooperative_id)
            earliest_of[cooperative_id] = min(known, earliest) if known else earliest

    new_states = [written_states[i] for i in sorted(written_states, key=_uuid_order) if i not in existing]
    if new_states:
        await session.execute(_INSERT_STATES, as_columns(new_states, _STATE_ROW))
    updated_states = [written_states[i] for i in sorted(written_states, key=_uuid_order) if i in existing]
    if updated_states:
        await session.execute(_UPDATE_STATES, as_columns(updated_states, _STATE_ROW))
    if written_profiles:
        profiles = [written_profiles[k] for k in sorted(written_profiles, key=_key_order)]
        await session.execute(_UPSERT_PROFILES, as_columns(profiles, _PROFILE_ROW))
    if written_snapshots:
        snapshot_rows = [written_snapshots[k] for k in sorted(written_snapshots, key=_key_order)]
        await session.execute(_UPSERT_SNAPSHOTS, as_columns(snapshot_rows, _SNAPSHOT_ROW))
    return [Change(cooperative_id, period) for cooperative_id, period in earliest_of.items()]


@dataclass(frozen=True)
class PeriodContribution:
    period: str
    unit_code: str
    parts: dict[str, list[str]]  # indicator → [numerator, denominator] as exact decimal strings (as stored)
    amounts: dict[str, tuple[Decimal, Decimal]]  # the same as numbers


def _text(number: Decimal) -> str:
    # Most amounts are the measures' own 0 and 1 (outside a population, or counted once).
    return "0" if number is ZERO else "1" if number is ONE else str(number)


class Profile(Protocol):
    """A `profile_history` row."""

    @property
    def effective_period(self) -> str: ...
    @property
    def unit_code(self) -> str: ...
    @property
    def legal_status(self) -> str: ...
    @property
    def sector(self) -> str: ...


class Snapshot(Protocol):
    """A `status_snapshots` row."""

    @property
    def period(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...


_READ_PROFILES = select(
    _PROFILES.c.cooperative_id,
    _PROFILES.c.effective_period,
    _PROFILES.c.unit_code,
    _PROFILES.c.legal_status,
    _PROFILES.c.sector,
).where(_PROFILES.c.cooperative_id == any_(_IDS))
_READ_SNAPSHOTS = select(_SNAPSHOTS.c.cooperative_id, _SNAPSHOTS.c.period, _SNAPSHOTS.c.data).where(
    _SNAPSHOTS.c.cooperative_id == any_(_IDS)
)


async def histories(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[Profile]], dict[uuid.UUID, list[Snapshot]]]:
    """The profiles and snapshots of the cooperatives `ids`, in two queries: what `contributions_for` reads,
    for the incremental path and the full recompute alike."""
    profiles: dict[uuid.UUID, list[Profile]] = defaultdict(list)
    for profile in (await session.execute(_READ_PROFILES, {"ids": ids})).all():
        profiles[profile.cooperative_id].append(profile)
    snapshots: dict[uuid.UUID, list[Snapshot]] = defaultdict(list)
    for snapshot in (await session.execute(_READ_SNAPSHOTS, {"ids": ids})).all():
        snapshots[snapshot.cooperative_id].append(snapshot)
    return profiles, snapshots


def contributions_for(
    plan: PlanDocument, profiles: Sequence[Profile], snapshots: Sequence[Snapshot], since: str = FROM_THE_START
) -> list[PeriodContribution]:
    """One cooperative's contribution to every base indicator of `plan`, for each period it reported (from
    `since` on)."""
    newest_first = sorted(profiles, key=lambda p: p.effective_period, reverse=True)
    measures = [(indicator.code, measure_of(indicator)) for indicator in plan.base_indicators]
    result = []
    for snapshot in sorted(snapshots, key=lambda s: s.period):
        if snapshot.period < since:
            continue
        profile = next((p for p in newest_first if p.effective_period <= snapshot.period), None)
        if profile is None:
            continue
        record: dict[str, Any] = {
            **snapshot.data,
            "farmland_ha": Decimal(str(snapshot.data["farmland_ha"])),
            "unit_code": profile.unit_code,
            "legal_status": profile.legal_status,
            "sector": profile.sector,
        }
        amounts = {code: measure(record) for code, measure in measures}
        parts = {code: [_text(numerator), _text(denominator)] for code, (numerator, denominator) in amounts.items()}
        result.append(PeriodContribution(snapshot.period, profile.unit_code, parts, amounts))
    return result
