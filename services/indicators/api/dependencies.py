"""Per-request access to the indicators' use cases, built from the runtime the lifespan keeps on the app.

Both are `async def`: FastAPI runs a plain `def` dependency in its thread pool, a thread hop for two attribute
reads."""

from __future__ import annotations

from fastapi import Request

from services.indicators.domain.plan_service import PlanService
from services.indicators.domain.progress_service import ProgressService
from shared.service import get_runtime


async def get_plans(request: Request) -> PlanService:
    runtime = get_runtime(request)
    return PlanService(runtime.sessionmaker, runtime.outbox, runtime.clock)


async def get_progress(request: Request) -> ProgressService:
    runtime = get_runtime(request)
    return ProgressService(runtime.sessionmaker, runtime.clock)
