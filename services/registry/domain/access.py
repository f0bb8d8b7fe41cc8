"""Object-level authorisation: which agency may write which cooperative.

An agency writes a cooperative when (1) it is active and keeps the registry (`writes_registry`: SNN and the
district People's Committees) and (2) the cooperative's unit lies within its jurisdiction on the date of the
change. SNN's jurisdiction is the city, so it writes everywhere; UBND-916 only in Ninh Kiều. Moving a
cooperative to another unit needs jurisdiction over both. Reads need only the `registry:read` scope.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.db.repositories import AgencyRepository, UnitRepository
from shared.auth import Principal
from shared.errors import Forbidden


async def authorise_registry_write(session: AsyncSession, principal: Principal, unit_codes: set[str], on: date) -> None:
    agency = await AgencyRepository(session).get(principal.agency)
    if agency is None or not agency.active:
        raise Forbidden(f"Agency '{principal.agency}' is unknown or inactive")
    if not agency.writes_registry:
        raise Forbidden(f"Agency '{agency.code}' does not keep the cooperative registry")
    within = await UnitRepository(session).within(agency.jurisdiction_unit_code, on)
    outside = sorted(unit_codes - within)
    if outside:
        raise Forbidden(
            f"Đơn vị {', '.join(outside)} nằm ngoài địa bàn quản lý của {agency.code} "
            f"(unit outside the agency's jurisdiction)",
            agency=agency.code,
            units=outside,
        )
