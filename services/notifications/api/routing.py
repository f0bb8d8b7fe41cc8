"""`/v1/routing/{target_code}`: overrides of who hears about a target (per unit, or `*` for every unit).

Reading is open to every agency (routing is not secret). Changing it is plan governance: the reporting
authority (SNN, which leads plan 219) or an operator, with the ETag of the last read in `If-Match`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.api.alert_schemas import TARGET_CODE
from services.notifications.domain.access import READ, WRITE
from services.notifications.domain.routing import ANY_UNIT, Routing, RuleInput, replace_routing, routing_of
from services.notifications.settings import settings_of
from shared.auth import Principal, require_scope
from shared.service import Runtime, get_runtime
from shared.text import AGENCY_CODE

router = APIRouter(prefix="/routing", tags=["routing"])
TARGET = Path(..., max_length=40, pattern=TARGET_CODE, examples=["III.3.a"])
AgencyCode = Annotated[str, Field(min_length=1, max_length=30, pattern=AGENCY_CODE)]


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_code: str = Field(ANY_UNIT, max_length=20, pattern=r"^(\*|[0-9A-Za-z-]+)$", description="`*` = every unit")
    lead_agency: AgencyCode
    coordinating: list[AgencyCode] = Field(default_factory=list, max_length=30)


class RoutingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overrides: list[OverrideIn] = Field(max_length=200, description="Replaces every override; [] = the plan's routing")


class OverrideOut(BaseModel):
    unit_code: str
    lead_agency: str
    coordinating: list[str]
    updated_at: datetime


class ObservedOut(BaseModel):
    unit_code: str
    status: str
    lead_agency: str
    coordinating: list[str]


class RoutingOut(BaseModel):
    target_code: str
    overrides: list[OverrideOut]
    plan_routing: list[ObservedOut] = Field(description="The plan's routing as carried by the latest status events")


EXAMPLE = {"overrides": [{"unit_code": "926", "lead_agency": "UBND-926", "coordinating": ["SNN", "LMHTX"]}]}


def render(routing: Routing) -> RoutingOut:
    return RoutingOut(
        target_code=routing.target_code,
        overrides=[
            OverrideOut(
                unit_code=r.unit_code,
                lead_agency=r.lead_agency,
                coordinating=list(r.coordinating or []),
                updated_at=r.updated_at,
            )
            for r in routing.overrides
        ],
        plan_routing=[
            ObservedOut(unit_code=p.unit_code, status=p.status, lead_agency=p.lead_agency, coordinating=p.coordinating)
            for p in routing.plan
        ],
    )


@router.get("/{target_code}", response_model=RoutingOut, summary="Phân công theo dõi chỉ tiêu (routing of a target)")
async def get_routing(
    response: Response,
    target_code: str = TARGET,
    runtime: Runtime = Depends(get_runtime),
    _: Principal = Depends(require_scope(READ)),
) -> RoutingOut:
    routing = await routing_of(runtime.sessionmaker, target_code)
    response.headers["ETag"] = routing.etag
    return render(routing)


@router.put(
    "/{target_code}",
    response_model=RoutingOut,
    summary="Thay phân công (replace the overrides; needs If-Match)",
    responses={
        403: {"description": "Only SNN or an operator"},
        412: {"description": "Stale ETag"},
        422: {"description": "Invalid input, an unknown agency or a repeated unit; each error names its field"},
        428: {"description": "If-Match missing"},
    },
)
async def put_routing(
    response: Response,
    target_code: str = TARGET,
    data: RoutingIn = Body(..., examples=[EXAMPLE]),
    if_match: str | None = Header(None, alias="If-Match", description="The ETag from your last GET"),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(WRITE)),
) -> RoutingOut:
    wanted = [RuleInput(o.unit_code, o.lead_agency, list(o.coordinating)) for o in data.overrides]
    routing = await replace_routing(
        runtime.sessionmaker,
        principal,
        target_code,
        wanted,
        if_match,
        authority=settings_of(runtime).reporting_authority,
        now=runtime.clock.now(),
    )
    response.headers["ETag"] = routing.etag
    return render(routing)
