"""`/v1/plans`, `/v1/plans/{code}/targets`: plans as data, replaceable without a release."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BeforeValidator

from services.indicators.api.dependencies import get_plans
from services.indicators.api.schemas import PLAN_CODE_EXAMPLE, PLAN_EXAMPLE, PlanSummary, TargetOut
from services.indicators.domain.plan_service import PlanService, StoredPlan
from services.indicators.domain.plans import PlanDocument
from shared.auth import Principal, require_scope
from shared.text import has_nul, iso_day

router = APIRouter(prefix="/plans", tags=["plans"])
READ = require_scope("indicators:read")
ADMIN = require_scope("indicators:admin")


def _summary(stored: StoredPlan) -> PlanSummary:
    plan = stored.document
    return PlanSummary(
        code=stored.code,
        title=plan.title,
        version=stored.version,
        source=stored.source,
        loaded_at=stored.loaded_at,
        targets=len(plan.targets),
        indicators=len(plan.indicators),
    )


def target_out(plan: PlanDocument) -> list[TargetOut]:
    return [
        TargetOut(
            id=plan.target_id(t),
            code=t.code,
            title=t.title,
            indicator=t.indicator,
            direction=t.direction,
            threshold=t.threshold,
            deadline=t.deadline,
            scope=t.scope,
            yes_no=t.yes_no,
            qualitative=t.qualitative,
            lead=t.lead,
            coordinating=list(t.coordinating),
        )
        for t in plan.targets
    ]


@router.get("", response_model=list[PlanSummary], summary="Các kế hoạch (plans)")
async def list_plans(plans: PlanService = Depends(get_plans), _: Principal = Depends(READ)) -> list[PlanSummary]:
    return [_summary(stored) for stored in await plans.plans()]


@router.get("/{code}", summary="Một kế hoạch (the plan document); use the slug 219-KH-UBND")
async def get_plan(code: str, plans: PlanService = Depends(get_plans), _: Principal = Depends(READ)) -> dict[str, Any]:
    return (await plans.find(code)).model_dump(mode="json")


@router.get("/{code}/targets", response_model=list[TargetOut], summary="Chỉ tiêu của kế hoạch (targets)")
async def plan_targets(
    code: str, plans: PlanService = Depends(get_plans), _: Principal = Depends(READ)
) -> list[TargetOut]:
    return target_out(await plans.find(code))


def _storable(value: object) -> object:
    # A plan is stored as jsonb, which cannot hold NUL; `value` in a condition is free JSON, so no schema says it.
    if has_nul(value):
        raise ValueError("no text in a plan may contain NUL (U+0000)")
    # Dates as the schema says (`format: date`): the plan model alone would also read 0 as a Unix timestamp.
    if isinstance(value, dict):
        days = [("issued_on", value.get("issued_on"))]
        targets = value.get("targets")
        if isinstance(targets, list):
            days += [(f"targets.{i}.deadline", t.get("deadline")) for i, t in enumerate(targets) if isinstance(t, dict)]
        for place, day in days:
            if day is not None:
                try:
                    iso_day(day)
                except ValueError as exc:
                    raise ValueError(f"{place}: {exc}") from None
    return value


# Body() inside Annotated: FastAPI applies the validator only then (not with `= Body(...)` as the default).
PlanBody = Annotated[PlanDocument, BeforeValidator(_storable), Body(examples=[PLAN_EXAMPLE])]


@router.put(
    "/{code}",
    response_model=PlanSummary,
    summary="Tạo hoặc thay kế hoạch (create or replace a plan)",
    description=(
        "The document's `code` (or its slug, `/` → `-`) must be the plan named in the path. Besides its schema, a "
        "plan must be consistent: indicator and target codes unique, a target's `indicator` defined in the plan, a "
        "`change` based on a non-change indicator, each kind with its fields (a predicate for count/share, "
        "numeric fields for a ratio), a condition's field and operator known; no text may contain NUL. "
        "Otherwise 422, each error naming its place."
    ),
    responses={403: {}, 422: {"description": "Invalid plan (each error names its place)"}},
)
async def put_plan(
    plan: PlanBody,
    code: str = Path(..., max_length=60, examples=[PLAN_CODE_EXAMPLE]),
    plans: PlanService = Depends(get_plans),
    _: Principal = Depends(ADMIN),
) -> PlanSummary:
    return _summary(await plans.put(code, plan))
