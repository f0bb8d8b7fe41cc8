"""Loading the demo registry through the use cases, as `make run` does on an empty registry."""

from __future__ import annotations

import logging
import zlib
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.db.cooperatives import CooperativeFilter, CooperativeRepository
from services.registry.domain.cooperatives import CooperativeService
from services.registry.domain.status_reports import StatusReportService
from services.registry.seed.city import DEFAULT_SEED
from services.registry.seed.generator import generate
from shared.auth import Principal

log = logging.getLogger(__name__)

SEED_PRINCIPAL = Principal(subject="demo-seed", agency="SNN", scopes=frozenset({"registry:write"}))
_LOCK = zlib.crc32(b"registry.demo-seed")  # one seeding at a time when several replicas start together


async def seed_demo(
    sessionmaker: async_sessionmaker[AsyncSession],
    cooperatives: CooperativeService,
    status_reports: StatusReportService,
    *,
    today: date,
    seed: int = DEFAULT_SEED,
) -> int:
    """Write the demo registry through the use cases (audit trail and outbox events as for API writes), in one
    transaction, unless the registry already holds a cooperative. Returns how many cooperatives it created.

    `cooperatives.clock.today()` must not be before `today`: the use case refuses a report from the future.
    """
    registry = generate(today=today, seed=seed)
    async with sessionmaker() as session, session.begin():
        # Replicas starting together queue here; the second then finds the registry filled and leaves it.
        await session.execute(select(func.pg_advisory_xact_lock(_LOCK)))
        existing = await CooperativeRepository(session).page(
            CooperativeFilter(), sort="registration_code", descending=False, limit=1, after=None
        )
        if existing:
            return 0
        reports = sum(len(c.reports) for c in registry.cooperatives)
        log.info("seeding the demo registry", extra={"cooperatives": len(registry.cooperatives), "reports": reports})
        for coop in registry.cooperatives:
            row = await cooperatives.create_in(session, SEED_PRINCIPAL, coop.data)
            for report in coop.reports:  # chronological: the latest as_of becomes the current status
                await session.flush()  # the audit trail in order: the cooperative's row before its reports
                await status_reports.report_on(await session.connection(), SEED_PRINCIPAL, row.id, report)
    return len(registry.cooperatives)
