"""The scheduler worker: every `NOTIFICATIONS_SCHEDULER_INTERVAL_SECONDS`, send what is due and not yet sent.

Each replica runs it; the claims in domain/schedule.py make that safe. Tests call :func:`run_once` directly
with a `FixedClock`.
"""

from __future__ import annotations

import logging

from services.notifications.domain.alerts import Alerts
from services.notifications.domain.schedule import Policy, Scheduler
from services.notifications.settings import settings_of
from shared.service import Runtime

log = logging.getLogger(__name__)


def scheduler_of(runtime: Runtime) -> Scheduler:
    settings = settings_of(runtime)
    policy = Policy(
        reminder_days=settings.reminder_days,
        target_reminder_days=settings.target_reminder_days,
        overdue_repeat_days=settings.overdue_repeat_days,
        re_remind_days=settings.re_remind_days,
        authority=settings.reporting_authority,
    )
    memo = runtime.extras.setdefault("scheduler", {})
    return Scheduler(runtime.sessionmaker, Alerts(runtime.outbox), policy, memo)


async def run_once(runtime: Runtime) -> int:
    """One pass at the runtime clock's current time; returns the number of notices sent."""
    return await scheduler_of(runtime).run(runtime.clock.today(), runtime.clock.now())


async def schedule_periodically(runtime: Runtime) -> None:
    settings = settings_of(runtime)
    if not settings.scheduler_enabled:
        return
    scheduler = scheduler_of(runtime)
    while True:
        try:
            sent = await scheduler.run(runtime.clock.today(), runtime.clock.now())
            if sent:
                log.info("scheduled notices sent", extra={"sent": sent})
        except Exception:
            log.warning("scheduler pass failed; will try again", exc_info=True)
        if await runtime.pause(settings.scheduler_interval_seconds):
            return
