"""Object-level authorisation: which agency may write which cooperative.

An agency writes a cooperative when (1) it is active and keeps the registry (`writes_registry`: SNN and the
district People's Committees) and (2) the cooperative's unit lies within its jurisdiction on the date of the
change. SNN's jurisdiction is the city, so it writes everywhere; UBND-916 only in Ninh Kiều. Moving a
cooperative to another unit needs jurisdiction over both. Reads need only the `registry:read` scope.

The facts are read by :data:`JURISDICTION` — on its own (:func:`authorise_registry_write`), or as part of a
use case's own statement so the check costs no extra round trip — and judged by :func:`check_registry_write`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date, Select, String, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.db.models import Agency, OrgUnit
from shared.auth import Principal
from shared.errors import Forbidden


@dataclass(frozen=True)
class Jurisdiction:
    """What the database says about an agency on a date: whether it may write, and the units it covers."""

    code: str
    active: bool
    writes_registry: bool
    units: frozenset[str]

    @staticmethod
    def of(columns: Sequence[Any]) -> Jurisdiction | None:
        """From the columns of :data:`JURISDICTION` (all NULL when a caller outer-joined an unknown agency)."""
        code, active, writes_registry, units = columns
        if code is None:
            return None
        return Jurisdiction(code, bool(active), bool(writes_registry), frozenset(units or ()))


def _jurisdiction_query() -> Select[Any]:
    agency, on = bindparam("agency", type_=String), bindparam("on", type_=Date)
    valid = and_(OrgUnit.valid_from <= on, or_(OrgUnit.valid_to.is_(None), OrgUnit.valid_to > on))
    root = select(Agency.jurisdiction_unit_code).where(Agency.code == agency).scalar_subquery()
    tree = select(OrgUnit.code).where(OrgUnit.code == root, valid).cte("tree", recursive=True)
    tree = tree.union(select(OrgUnit.code).join(tree, OrgUnit.parent_code == tree.c.code).where(valid))
    within_q = select(func.array_agg(tree.c.code)).scalar_subquery()
    return select(Agency.code, Agency.active, Agency.writes_registry, within_q.label("jurisdiction")).where(
        Agency.code == agency
    )


JURISDICTION = _jurisdiction_query()
"""One row for a known agency (none otherwise): its code, `active`, `writes_registry`, and an array of every unit
of its jurisdiction valid on a date (its root and all below it). Parameters: `agency` (code), `on` (date).

Built once, at import: constructing it and computing its cache key cost more CPU than PostgreSQL spends on it."""


def jurisdiction_params(agency: str, on: date) -> dict[str, Any]:
    return {"agency": agency, "on": on}


def check_registry_write(principal: Principal, jurisdiction: Jurisdiction | None, unit_codes: set[str]) -> None:
    """Refuse the write unless the agency is known and active, keeps the registry, and every unit in
    `unit_codes` is within its jurisdiction."""
    if jurisdiction is None or not jurisdiction.active:
        raise Forbidden(f"Agency '{principal.agency}' is unknown or inactive")
    code = jurisdiction.code
    if not jurisdiction.writes_registry:
        raise Forbidden(f"Agency '{code}' does not keep the cooperative registry")
    outside = sorted(unit_codes - jurisdiction.units)
    if outside:
        raise Forbidden(
            f"Đơn vị {', '.join(outside)} nằm ngoài địa bàn quản lý của {code} "
            f"(unit outside the agency's jurisdiction)",
            agency=code,
            units=outside,
        )


async def authorise_registry_write(session: AsyncSession, principal: Principal, unit_codes: set[str], on: date) -> None:
    # One round trip: the agency and every unit of its jurisdiction valid on `on`.
    row = (await session.execute(JURISDICTION, jurisdiction_params(principal.agency, on))).one_or_none()
    check_registry_write(principal, None if row is None else Jurisdiction.of(row), unit_codes)
