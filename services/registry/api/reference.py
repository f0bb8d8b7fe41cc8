"""`/v1/org-units` and `/v1/agencies`: read-only reference data."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from services.registry.api.dependencies import Registry, get_registry
from services.registry.api.schemas import AgencyOut, UnitOut
from services.registry.db.reference import AgencyRepository, UnitRepository
from services.registry.domain.inputs import Day
from shared.auth import Principal, require_scope
from shared.errors import NotFound
from shared.text import NO_CONTROL_CHARACTERS

router = APIRouter(tags=["reference data"])

READ = require_scope("registry:read")
CODE = Path(max_length=30, pattern=NO_CONTROL_CHARACTERS)


@router.get("/org-units", response_model=list[UnitOut], summary="Đơn vị hành chính (administrative units)")
async def list_units(
    on: Day | None = Query(None, description="Units valid on this date (default: today, Vietnam time)"),
    level: str | None = Query(None, max_length=30, pattern=NO_CONTROL_CHARACTERS, examples=["rural_district"]),
    parent: str | None = Query(None, max_length=20, pattern=NO_CONTROL_CHARACTERS, examples=["92"]),
    registry: Registry = Depends(get_registry),
    _: Principal = Depends(READ),
) -> list[UnitOut]:
    async with registry.runtime.sessionmaker() as session:
        rows = await UnitRepository(session).list(on or registry.runtime.clock.today(), level=level, parent=parent)
        return [UnitOut.model_validate(r) for r in rows]


@router.get("/org-units/{code}", response_model=UnitOut, responses={404: {}})
async def get_unit(
    code: str = CODE,
    on: Day | None = Query(None),
    registry: Registry = Depends(get_registry),
    _: Principal = Depends(READ),
) -> UnitOut:
    async with registry.runtime.sessionmaker() as session:
        unit = await UnitRepository(session).get(code, on or registry.runtime.clock.today())
        if unit is None:
            raise NotFound(f"Không tìm thấy đơn vị hành chính '{code}' (unit not found)")
        return UnitOut.model_validate(unit)


@router.get("/agencies", response_model=list[AgencyOut], summary="Cơ quan (agencies)")
async def list_agencies(registry: Registry = Depends(get_registry), _: Principal = Depends(READ)) -> list[AgencyOut]:
    async with registry.runtime.sessionmaker() as session:
        return [AgencyOut.model_validate(a) for a in await AgencyRepository(session).list()]


@router.get("/agencies/{code}", response_model=AgencyOut, responses={404: {}})
async def get_agency(
    code: str = CODE, registry: Registry = Depends(get_registry), _: Principal = Depends(READ)
) -> AgencyOut:
    async with registry.runtime.sessionmaker() as session:
        agency = await AgencyRepository(session).get(code)
        if agency is None:
            raise NotFound(f"Không tìm thấy cơ quan '{code}' (agency not found)")
        return AgencyOut.model_validate(agency)
