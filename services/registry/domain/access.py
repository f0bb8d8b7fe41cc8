"""Object-level authorisation: which agency may write which cooperative.

An agency writes a cooperative when (1) it is active and keeps the registry (`writes_registry`: SNN and the
district People's Committees) and (2) the cooperative's unit lies within its jurisdiction on the date of the
change. SNN's jurisdiction is the city, so it writes everywhere; UBND-916 only in Ninh Kiều. Moving a
cooperative to another unit needs jurisdiction over both. Reads need only the `registry:read` scope.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.db.models import Agency, OrgUnit
from shared.auth import Principal
from shared.errors import Forbidden


async def authorise_registry_write(session: AsyncSession, principal: Principal, unit_codes: set[str], on: date) -> None:
    # One round trip: the agency and every unit of its jurisdiction valid on `on` (its root and all below it).
    valid = and_(OrgUnit.valid_from <= on, or_(OrgUnit.valid_to.is_(None), OrgUnit.valid_to > on))
    root = select(Agency.jurisdiction_unit_code).where(Agency.code == principal.agency).scalar_subquery()
    tree = select(OrgUnit.code).where(OrgUnit.code == root, valid).cte("tree", recursive=True)
    tree = tree.union(select(OrgUnit.code).join(tree, OrgUnit.parent_code == tree.c.code).where(valid))
    within_q = select(func.array_agg(tree.c.code)).scalar_subquery()
    row = (
        await session.execute(
            select(Agency.code, Agency.active, Agency.writes_registry, within_q).where(Agency.code == principal.agency)
        )
    ).one_or_none()
    if row is None or not row.active:
        raise Forbidden(f"Agency '{principal.agency}' is unknown or inactive")
    code = row.code
    if not row.writes_registry:
        raise Forbidden(f"Agency '{code}' does not keep the cooperative registry")
    within = set(row[3] or ())
    outside = sorted(unit_codes - within)
    if outside:
        raise Forbidden(
            f"Đơn vị {', '.join(outside)} nằm ngoài địa bàn quản lý của {code} "
            f"(unit outside the agency's jurisdiction)",
            agency=code,
            units=outside,
        )
