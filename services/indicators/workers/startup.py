"""Start-up work: load the shipped plan files (a changed file replaces the stored plan and recomputes it)."""

from __future__ import annotations

import logging
import zlib

from sqlalchemy import func, select

from services.indicators.domain.catalogue import shipped_plans, store_plan
from services.indicators.domain.engine import recompute
from shared.service import Runtime

log = logging.getLogger(__name__)


async def load_shipped_plans(runtime: Runtime) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        # Replicas starting together: one loads, the others wait and then find the plans current.
        await session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(b"indicators.plans"))))
        for plan in shipped_plans():
            _, changed = await store_plan(session, plan, source="file", now=runtime.clock.now())
            if changed:
                report = await recompute(session, plan, runtime.outbox, runtime.clock)
                log.info("plan loaded", extra={"plan": plan.code, "cooperatives": report.cooperatives})
