"""`/v1/progress`, `/v1/targets/{id}/progress`, `/v1/indicators/{code}/values`, `/v1/recompute`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from services.indicators.api.dependencies import get_plans, get_progress
from services.indicators.api.schemas import (
    ProgressSummary,
    RecomputeOut,
    TargetProgressOut,
    ValuePoint,
    ValueSeries,
)
from services.indicators.domain.periods import normalise
from services.indicators.domain.plan_service import PlanService
from services.indicators.domain.progress import STATUS_VI
from services.indicators.domain.progress_service import ProgressService, TargetProgress
from shared.auth import Principal, require_scope
from shared.errors import ValidationFailed
from shared.text import DIGITS, NO_CONTROL_CHARACTERS

router = APIRouter(tags=["progress"])
READ = require_scope("indicators:read")
DEFAULT_PLAN = "219/KH-UBND"
PLAN = Query(DEFAULT_PLAN, max_length=60, pattern=NO_CONTROL_CHARACTERS, examples=["219/KH-UBND"])
PERIOD = r"^[0-9]{4}(-H[12])?$"  # what periods.normalise reads: 2025-H1, or a year (its H2)


def _target_out(p: TargetProgress) -> TargetProgressOut:
    result = p.result
    return TargetProgressOut(
        target_id=p.plan.target_id(p.target),
        target_code=p.target.code,
        title=p.target.title,
        unit_code=p.unit,
        status=result.status,
        status_vi=STATUS_VI[result.status],
        ratio=result.ratio,
        baseline=result.baseline.value if result.baseline else None,
        baseline_on=result.baseline.on if result.baseline else None,
        current=result.current.value if result.current else None,
        current_on=result.current.on if result.current else None,
        target=p.goal,
        projection=result.projection,
        deadline=p.target.deadline,
        lead_agency=p.lead,
        coordinating_agencies=p.coordinating,
        explanation=result.explanation,
    )


@router.get(
    "/progress",
    response_model=ProgressSummary,
    summary="Tiến độ mọi chỉ tiêu của một đơn vị",
    responses={404: {"description": "No such plan"}},
)
async def progress(
    plan: str = PLAN,
    unit: str = Query("92", max_length=20, pattern=DIGITS, description="Đơn vị hành chính (92 = toàn thành phố)"),
    service: ProgressService = Depends(get_progress),
    _: Principal = Depends(READ),
) -> ProgressSummary:
    summary = await service.unit_progress(plan, unit)
    return ProgressSummary(
        plan_code=summary.plan.code,
        unit_code=summary.unit,
        as_of=summary.as_of,
        counts=summary.counts,
        targets=[_target_out(t) for t in summary.targets],
    )


@router.get("/targets/{target_id}/progress", response_model=TargetProgressOut, responses={404: {}})
async def target_progress(
    target_id: str,
    unit: str | None = Query(None, max_length=20, pattern=DIGITS, description="Default: the city for city targets"),
    service: ProgressService = Depends(get_progress),
    _: Principal = Depends(READ),
) -> TargetProgressOut:
    return _target_out(await service.target_progress(target_id, unit))


@router.get(
    "/indicators/{code}/values",
    response_model=ValueSeries,
    summary="Chuỗi giá trị theo kỳ (time series)",
    responses={404: {}},
)
async def indicator_values(
    code: str,
    plan: str = PLAN,
    unit: str = Query("92", max_length=20, pattern=DIGITS),
    from_: str | None = Query(
        None,
        alias="from",
        pattern=PERIOD,
        description="First period, e.g. 2023-H2 (a year = its H2)",
        examples=["2023-H2"],
    ),
    to: str | None = Query(None, pattern=PERIOD, description="Last period, e.g. 2025-H2"),
    service: ProgressService = Depends(get_progress),
    _: Principal = Depends(READ),
) -> ValueSeries:
    try:
        first = normalise(from_) if from_ else "0000-H1"
        last = normalise(to) if to else "9999-H2"
    except ValueError as exc:
        raise ValidationFailed(
            "Kỳ không hợp lệ (invalid period)",
            errors=[{"field": "query.from" if from_ else "query.to", "message": str(exc)}],
        ) from exc
    values = await service.indicator_values(plan, code, unit, first, last)
    return ValueSeries(
        plan_code=values.plan.code,
        indicator_code=values.indicator.code,
        name=values.indicator.name,
        unit=values.indicator.unit,
        unit_code=values.unit,
        points=[
            ValuePoint(
                period=p.period,
                period_end=p.period_end,
                value=p.value,
                numerator=p.numerator,
                denominator=p.denominator,
                members=p.members,
            )
            for p in values.points
        ],
    )


@router.post("/recompute", response_model=list[RecomputeOut], summary="Tính lại toàn bộ (full recompute; admin)")
async def recompute_endpoint(
    plans: PlanService = Depends(get_plans), _: Principal = Depends(require_scope("indicators:admin"))
) -> list[RecomputeOut]:
    return [
        RecomputeOut(plan_code=r.plan_code, cooperatives=r.cooperatives, values=r.values, differences=r.differences)
        for r in await plans.recompute_all()
    ]
