"""Re-evaluates every target hourly: time alone moves a target (a deadline passes), with no event to say so.

Safe with several replicas: a transaction-scoped advisory lock lets one run at a time, and a status is only
published when it changes, so a second run publishes nothing.
"""

from __future__ import annotations

import logging
import zlib

from sqlalchemy import func, select

from services.indicators.domain.engine import IndicatorEngine
from shared.service import Runtime

log = logging.getLogger(__name__)
LOCK = zlib.crc32(b"indicators.reassess")
INTERVAL_SECONDS = 3600.0


async def reassess_periodically(runtime: Runtime) -> None:
    engine = IndicatorEngine(runtime.outbox, runtime.clock)
    while not await runtime.pause(INTERVAL_SECONDS):
        try:
            async with runtime.sessionmaker() as session, session.begin():
                if await session.scalar(select(func.pg_try_advisory_xact_lock(LOCK))):
                    sent = await engine.reassess(session)
                    if sent:
                        log.info("targets re-assessed", extra={"status_changes": sent})
        except Exception:
            log.warning("re-assessment failed; will try again", exc_info=True)
