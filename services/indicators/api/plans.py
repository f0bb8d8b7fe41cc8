"""`/v1/plans`, `/v1/plans/{code}/targets`: plans as data, replaceable without a release."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends
from sqlalchemy import select

from services.indicators.api.schemas import PlanSummary, TargetOut
from services.indicators.db.models import Plan
from services.indicators.domain.catalogue import load_plans, parse_plan, store_plan
from services.indicators.domain.engine import recompute
from services.indicators.domain.plans import PlanDocument
from shared.auth import Principal, require_scope
from shared.errors import NotFound, ValidationFailed
from shared.service import Runtime, get_runtime

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


@router.put(
    "/{code}",
    response_model=PlanSummary,
    summary="Tạo hoặc thay kế hoạch (create or replace a plan)",
    responses={403: {}, 422: {"description": "Invalid plan (each error names its place)"}},
)
async def put_plan(
    code: str,
    document: dict[str, Any] = Body(
        ...,
        examples=[{"code": "219/KH-UBND", "title": "…", "baseline_period": "2023-H2", "indicators": [], "targets": []}],
    ),
    runtime: Runtime = Depends(get_runtime),
    _: Principal = Depends(ADMIN),
) -> PlanSummary:
    plan = parse_plan(document)
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
