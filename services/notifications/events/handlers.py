"""The notifications service's handler table: every event it consumes, and the function that applies it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.domain.agencies import apply_agency
from services.notifications.domain.alerts import Alerts
from services.notifications.domain.deadlines import close_by_submission, ensure_obligations
from services.notifications.domain.lookups import batch_lookups
from services.notifications.domain.targets import on_target_status
from services.notifications.settings import settings_of
from shared import tracing
from shared.events import contracts
from shared.events.contracts import EventPayload
from shared.events.envelope import CloudEvent
from shared.messaging.consumer import Subscription
from shared.service import Runtime

CONSUMES: tuple[type[EventPayload], ...] = (contracts.AgencyV1, contracts.TargetStatusV1, contracts.ReportSubmissionV1)


def handler_table(runtime: Runtime) -> list[Subscription]:
    alerts = Alerts(runtime.outbox)
    clock = runtime.clock
    authority = settings_of(runtime).reporting_authority

    async def agency(session: AsyncSession, event: CloudEvent) -> None:
        payload = contracts.AgencyV1.model_validate(event.data)
        if await apply_agency(session, payload) and payload.active:
            await ensure_obligations(session, clock.today(), clock.now(), agency_code=payload.code)

    async def target_status(session: AsyncSession, event: CloudEvent) -> None:
        await on_target_status(session, alerts, contracts.TargetStatusV1.model_validate(event.data), clock.now())

    async def target_statuses(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        """Each event exactly as `target_status` (in order, flushed after each, traced to itself), with the
        agencies, channels and routing read once for the run (domain/lookups.py)."""
        with batch_lookups(session):
            for event in events:
                token = tracing.set_traceparent(tracing.child_of(event.traceparent))
                try:
                    await target_status(session, event)
                finally:
                    tracing.reset_traceparent(token)
                await session.flush()

    async def report_submission(session: AsyncSession, event: CloudEvent) -> None:
        payload = contracts.ReportSubmissionV1.model_validate(event.data)
        await close_by_submission(session, alerts, payload, clock.now(), authority)

    return [
        Subscription(contracts.AgencyV1.topic, contracts.AgencyV1.event_type, agency),
        Subscription(
            contracts.TargetStatusV1.topic,
            contracts.TargetStatusV1.event_type,
            target_status,
            batch_handler=target_statuses,
        ),
        Subscription(contracts.ReportSubmissionV1.topic, contracts.ReportSubmissionV1.event_type, report_submission),
    ]
