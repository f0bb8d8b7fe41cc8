"""`/v1/progress`, `/v1/targets/{id}/progress`, `/v1/indicators/{code}/values`, `/v1/recompute`."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicators.api.plans import find_plan
from services.indicators.api.schemas import (
    ProgressSummary,
    RecomputeOut,
    TargetProgressOut,
    ValuePoint,
    ValueSeries,
)
from services.indicators.db.models import IndicatorValue
from services.indicators.domain.aggregation import districts
from services.indicators.domain.assessment import (
    Values,
    across_districts,
    progress_from,
    responsible,
    series,
    unit_values,
)
from services.indicators.domain.engine import recompute_all
from services.indicators.domain.periods import normalise, period_end
from services.indicators.domain.plans import PlanDocument, TargetDef
from services.indicators.domain.progress import STATUS_VI
from shared.auth import Principal, require_scope
from shared.errors import NotFound, ValidationFailed
from shared.service import Runtime, get_runtime
from shared.text import DIGITS, NO_CONTROL_CHARACTERS

router = APIRouter(tags=["progress"])
READ = require_scope("indicators:read")
DEFAULT_PLAN = "219/KH-UBND"
PLAN = Query(DEFAULT_PLAN, max_length=60, pattern=NO_CONTROL_CHARACTERS, examples=["219/KH-UBND"])
PERIOD = r"^[0-9]{4}(-H[12])?$"  # what periods.normalise reads: 2025-H1, or a year (its H2)


async def _progress(
    session: AsyncSession, runtime: Runtime, plan: PlanDocument, target: TargetDef, unit: str, values: Values
) -> TargetProgressOut:
    goal = target.threshold
    if target.scope == "each_district" and unit == plan.city_unit:
        result = await across_districts(session, plan, target, runtime.clock.today())
        goal = Decimal(len(await districts(session, plan.city_unit)))  # every district
    else:
        result = progress_from(plan, target, values, runtime.clock.today())
    lead, coordinating = await responsible(session, plan, target, unit)
    return TargetProgressOut(
        target_id=plan.target_id(target),
        target_code=target.code,
        title=target.title,
        unit_code=unit,
        status=result.status,
        status_vi=STATUS_VI[result.status],
        ratio=result.ratio,
        baseline=result.baseline.value if result.baseline else None,
        baseline_on=result.baseline.on if result.baseline else None,
        current=result.current.value if result.current else None,
        current_on=result.current.on if result.current else None,
        target=goal,
        projection=result.projection,
        deadline=target.deadline,
        lead_agency=lead,
        coordinating_agencies=coordinating,
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
    runtime: Runtime = Depends(get_runtime),
    _: Principal = Depends(READ),
) -> ProgressSummary:
    document = await find_plan(runtime, plan)
    async with runtime.sessionmaker() as session:
        values = await unit_values(session, document, unit)  # one read for every target of the unit
        targets = [await _progress(session, runtime, document, t, unit, values) for t in document.targets]
    return ProgressSummary(
        plan_code=document.code,
        unit_code=unit,
        as_of=runtime.clock.today(),
        counts=dict(Counter(t.status for t in targets)),
        targets=targets,
    )


@router.get("/targets/{target_id}/progress", response_model=TargetProgressOut, responses={404: {}})
async def target_progress(
    target_id: str,
    unit: str | None = Query(None, max_length=20, pattern=DIGITS, description="Default: the city for city targets"),
    runtime: Runtime = Depends(get_runtime),
    _: Principal = Depends(READ),
) -> TargetProgressOut:
    slug = target_id.split(":", 1)[0]
    document = await find_plan(runtime, slug)
    target = document.target(target_id)
    if target is None:
        raise NotFound(f"Không tìm thấy chỉ tiêu '{target_id}' (target not found)")
    unit = unit or document.city_unit
    async with runtime.sessionmaker() as session:
        return await _progress(session, runtime, document, target, unit, await unit_values(session, document, unit))


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
    runtime: Runtime = Depends(get_runtime),
    _: Principal = Depends(READ),
) -> ValueSeries:
    document = await find_plan(runtime, plan)
    indicator = next((i for i in document.indicators if i.code == code), None)
    if indicator is None:
        raise NotFound(f"Không tìm thấy chỉ số '{code}' (indicator not found)")
    try:
        first = normalise(from_) if from_ else "0000-H1"
        last = normalise(to) if to else "9999-H2"
    except ValueError as exc:
        raise ValidationFailed(
            "Kỳ không hợp lệ (invalid period)",
            errors=[{"field": "query.from" if from_ else "query.to", "message": str(exc)}],
        ) from exc
    async with runtime.sessionmaker() as session:
        if indicator.kind == "change":
            derived = await series(session, document, code, unit)
            points = [
                ValuePoint(period=f"{p.on.year}-H{1 if p.on.month <= 6 else 2}", period_end=p.on, value=p.value)
                for p in derived.points
            ]
        else:
            rows = await session.scalars(
                select(IndicatorValue)
                .where(
                    IndicatorValue.plan_code == document.code,
                    IndicatorValue.indicator_code == code,
                    IndicatorValue.unit_code == unit,
                )
                .order_by(IndicatorValue.period)
            )
            points = [
                ValuePoint(
                    period=r.period,
                    period_end=period_end(r.period),
                    value=r.value,
                    numerator=r.numerator,
                    denominator=r.denominator,
                    members=r.members,
                )
                for r in rows
            ]
    points = [p for p in points if first <= p.period <= last]
    return ValueSeries(
        plan_code=document.code,
        indicator_code=code,
        name=indicator.name,
        unit=indicator.unit,
        unit_code=unit,
        points=points,
    )


@router.post("/recompute", response_model=list[RecomputeOut], summary="Tính lại toàn bộ (full recompute; admin)")
async def recompute_endpoint(
    runtime: Runtime = Depends(get_runtime), _: Principal = Depends(require_scope("indicators:admin"))
) -> list[RecomputeOut]:
    async with runtime.sessionmaker() as session, session.begin():
        reports = await recompute_all(session, runtime.outbox, runtime.clock)
    return [
        RecomputeOut(plan_code=r.plan_code, cooperatives=r.cooperatives, values=r.values, differences=r.differences)
        for r in reports
    ]
