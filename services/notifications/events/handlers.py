"""The notifications service's handler table: every event it consumes, and the function that applies it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.domain.agencies import apply_agency
from services.notifications.domain.alerts import Alerts
from services.notifications.domain.deadlines import close_by_submission, ensure_obligations
from services.notifications.domain.targets import apply_run
from services.notifications.settings import settings_of
from shared.events import contracts
from shared.events.contracts import EventPayload
from shared.events.envelope import CloudEvent
from shared.messaging.consumer import Subscription, one_by_one
from shared.service import Runtime

log = logging.getLogger(__name__)

CONSUMES: tuple[type[EventPayload], ...] = (contracts.AgencyV1, contracts.TargetStatusV1, contracts.ReportSubmissionV1)


def handler_table(runtime: Runtime) -> list[Subscription]:
    alerts = Alerts(runtime.outbox)
    clock = runtime.clock
    authority = settings_of(runtime).reporting_authority

    async def agency(session: AsyncSession, event: CloudEvent) -> None:
        payload = contracts.AgencyV1.model_validate(event.data)
        if await apply_agency(session, payload) and payload.active:
            await ensure_obligations(session, clock.today(), clock.now(), agency_code=payload.code)

    async def target_statuses(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        """A run of target-status events (a single event is a run of one), coalesced and written once
        (domain/targets.py `apply_run`)."""
        run = [contracts.TargetStatusV1.model_validate(event.data) for event in events]
        acted = await apply_run(session, alerts, run, clock.now)
        if len(acted) < len(run):
            log.info("superseded target statuses coalesced", extra={"events": len(run), "acted_on": len(acted)})

    async def report_submission(session: AsyncSession, event: CloudEvent) -> None:
        payload = contracts.ReportSubmissionV1.model_validate(event.data)
        await close_by_submission(session, alerts, payload, clock.now(), authority)

    return [
        Subscription(contracts.AgencyV1.topic, contracts.AgencyV1.event_type, one_by_one(agency)),
        Subscription(contracts.TargetStatusV1.topic, contracts.TargetStatusV1.event_type, target_statuses),
        Subscription(
            contracts.ReportSubmissionV1.topic, contracts.ReportSubmissionV1.event_type, one_by_one(report_submission)
        ),
    ]
