"""`/v1/plans`, `/v1/plans/{code}/targets`: plans as data, replaceable without a release."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BeforeValidator
from sqlalchemy import select

from services.indicators.api.schemas import PlanSummary, TargetOut
from services.indicators.db.models import Plan
from services.indicators.domain.catalogue import load_plans, store_plan
from services.indicators.domain.engine import recompute
from services.indicators.domain.plans import PlanDocument
from shared.auth import Principal, require_scope
from shared.errors import NotFound, ValidationFailed
from shared.service import Runtime, get_runtime
from shared.text import has_nul, iso_day

router = APIRouter(prefix="/plans", tags=["plans"])
READ = require_scope("indicators:read")
ADMIN = require_scope("indicators:admin")


def _summary(row: Plan) -> PlanSummary:
    plan = PlanDocument.model_validate(row.document)
    return PlanSummary(
        code=row.code,
        title=plan.title,
        version=row.version,
        source=row.source,
        loaded_at=row.loaded_at,
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


async def find_plan(runtime: Runtime, code: str) -> PlanDocument:
    async with runtime.sessionmaker() as session:
        for plan in await load_plans(session):
            if code in (plan.code, plan.slug):
                return plan
    raise NotFound(f"Không tìm thấy kế hoạch '{code}' (plan not found)")


@router.get("", response_model=list[PlanSummary], summary="Các kế hoạch (plans)")
async def list_plans(runtime: Runtime = Depends(get_runtime), _: Principal = Depends(READ)) -> list[PlanSummary]:
    async with runtime.sessionmaker() as session:
        return [_summary(row) for row in (await session.scalars(select(Plan).order_by(Plan.code))).all()]


@router.get("/{code}", summary="Một kế hoạch (the plan document); use the slug 219-KH-UBND")
async def get_plan(code: str, runtime: Runtime = Depends(get_runtime), _: Principal = Depends(READ)) -> dict[str, Any]:
    return (await find_plan(runtime, code)).model_dump(mode="json")


@router.get("/{code}/targets", response_model=list[TargetOut], summary="Chỉ tiêu của kế hoạch (targets)")
async def plan_targets(
    code: str, runtime: Runtime = Depends(get_runtime), _: Principal = Depends(READ)
) -> list[TargetOut]:
    return target_out(await find_plan(runtime, code))


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


EXAMPLE = {"code": "219/KH-UBND", "title": "…", "baseline_period": "2023-H2", "indicators": [], "targets": []}
# Body() inside Annotated: FastAPI applies the validator only then (not with `= Body(...)` as the default).
PlanBody = Annotated[PlanDocument, BeforeValidator(_storable), Body(examples=[EXAMPLE])]


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
    code: str = Path(..., max_length=60, examples=["219-KH-UBND"]),
    runtime: Runtime = Depends(get_runtime),
    _: Principal = Depends(ADMIN),
) -> PlanSummary:
    if code not in (plan.code, plan.slug):
        raise ValidationFailed(
            "Mã kế hoạch trong đường dẫn và trong tài liệu khác nhau (code mismatch)",
            errors=[{"field": "code", "message": f"must be {code!r}"}],
        )
    async with runtime.sessionmaker() as session, session.begin():
        row, changed = await store_plan(session, plan, source="api", now=runtime.clock.now())
        if changed:
            await recompute(session, plan, runtime.outbox, runtime.clock)
        return _summary(row)
