"""The indicators service's own picture of each cooperative, built only from `registry.cooperative-status.v1`.

Events are applied in version order per cooperative: an event whose version is not newer than the one held
changes nothing (a late or repeated delivery). From the projection, `contributions_for` derives what a
cooperative adds to each indicator in each period it reported for; the same function serves the incremental
path and the full recompute, which is why the two agree exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicators.db.models import CooperativeState, ProfileChange, StatusSnapshot
from services.indicators.domain.measures import contribution
from services.indicators.domain.periods import normalise, period_of
from services.indicators.domain.plans import PlanDocument
from shared.clock import VIETNAM
from shared.events.contracts import CooperativeStatusV1

FROM_THE_START = "0000-H1"  # a cooperative's first profile applies to every period it ever reports


@dataclass(frozen=True)
class Change:
    """What an applied event changed: the earliest period whose contributions must be recomputed."""

    cooperative_id: uuid.UUID
    from_period: str


async def apply_status_event(session: AsyncSession, event: CooperativeStatusV1) -> Change | None:
    state = await session.get(CooperativeState, event.cooperative_id, with_for_update=True)
    if state is not None and event.version <= state.version:
        return None  # older or repeated version: the newer state is already applied
    profile = (event.unit_code, event.legal_status.value, event.sector.value)
    earliest: str | None = None
    if state is None:
        state = CooperativeState(cooperative_id=event.cooperative_id)
        session.add(state)
        session.add(
            ProfileChange(
                cooperative_id=event.cooperative_id,
                effective_period=FROM_THE_START,
                unit_code=profile[0],
                legal_status=profile[1],
                sector=profile[2],
            )
        )
        earliest = FROM_THE_START
    elif (state.unit_code, state.legal_status, state.sector) != profile:
        effective = period_of(event.changed_at.astimezone(VIETNAM).date())
        change = await session.get(ProfileChange, (event.cooperative_id, effective))
        if change is None:
            session.add(
                ProfileChange(
                    cooperative_id=event.cooperative_id,
                    effective_period=effective,
                    unit_code=profile[0],
                    legal_status=profile[1],
                    sector=profile[2],
                )
            )
        else:
            change.unit_code, change.legal_status, change.sector = profile
        earliest = effective
    state.version = event.version
    state.registration_code, state.name = event.registration_code, event.name
    state.unit_code, state.legal_status, state.sector = profile
    state.changed_at = event.changed_at

    if event.status is not None:
        period = normalise(event.status.period)
        data = event.status.model_dump(mode="json")
        snapshot = await session.get(StatusSnapshot, (event.cooperative_id, period))
        if snapshot is None:
            session.add(
                StatusSnapshot(
                    cooperative_id=event.cooperative_id,
                    period=period,
                    report_id=event.status.report_id,
                    as_of=event.status.as_of,
                    data=data,
                )
            )
            earliest = min(earliest or period, period)
        elif snapshot.data != data:
            snapshot.report_id, snapshot.as_of, snapshot.data = event.status.report_id, event.status.as_of, data
            earliest = min(earliest or period, period)
    await session.flush()
    return Change(event.cooperative_id, earliest) if earliest is not None else None


@dataclass(frozen=True)
class PeriodContribution:
    period: str
    unit_code: str
    parts: dict[str, list[str]]  # indicator → [numerator, denominator] as exact decimal strings


def contributions_for(
    plan: PlanDocument, profiles: Sequence[ProfileChange], snapshots: Sequence[StatusSnapshot]
) -> list[PeriodContribution]:
    """One cooperative's contribution to every base indicator of `plan`, for each period it reported."""
    ordered = sorted(profiles, key=lambda p: p.effective_period)
    result = []
    for snapshot in sorted(snapshots, key=lambda s: s.period):
        profile = next((p for p in reversed(ordered) if p.effective_period <= snapshot.period), None)
        if profile is None:
            continue
        record: dict[str, Any] = {
            **snapshot.data,
            "farmland_ha": Decimal(str(snapshot.data["farmland_ha"])),
            "unit_code": profile.unit_code,
            "legal_status": profile.legal_status,
            "sector": profile.sector,
        }
        parts = {}
        for indicator in plan.base_indicators:
            numerator, denominator = contribution(indicator, record)
            parts[indicator.code] = [str(numerator), str(denominator)]
        result.append(PeriodContribution(snapshot.period, profile.unit_code, parts))
    return result


async def history_of(
    session: AsyncSession, cooperative_id: uuid.UUID
) -> tuple[list[ProfileChange], list[StatusSnapshot]]:
    profiles = await session.scalars(select(ProfileChange).where(ProfileChange.cooperative_id == cooperative_id))
    snapshots = await session.scalars(select(StatusSnapshot).where(StatusSnapshot.cooperative_id == cooperative_id))
    return list(profiles.all()), list(snapshots.all())
