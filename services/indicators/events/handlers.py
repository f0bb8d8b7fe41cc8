"""The indicators service's handler table: every event it consumes, and the function that applies it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.indicators.domain.engine import IndicatorEngine
from shared.events import contracts
from shared.events.contracts import EventPayload
from shared.events.envelope import CloudEvent
from shared.messaging.consumer import Subscription, one_by_one
from shared.service import Runtime

CONSUMES: tuple[type[EventPayload], ...] = (contracts.CooperativeStatusV1, contracts.OrgUnitV1)


def handler_table(runtime: Runtime) -> list[Subscription]:
    engine = IndicatorEngine(runtime.outbox, runtime.clock)

    async def cooperative_statuses(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        await engine.on_cooperative_statuses(
            session, [contracts.CooperativeStatusV1.model_validate(event.data) for event in events]
        )

    async def org_unit(session: AsyncSession, event: CloudEvent) -> None:
        await engine.on_org_unit(session, contracts.OrgUnitV1.model_validate(event.data))

    return [
        Subscription(
            contracts.CooperativeStatusV1.topic, contracts.CooperativeStatusV1.event_type, cooperative_statuses
        ),
        Subscription(contracts.OrgUnitV1.topic, contracts.OrgUnitV1.event_type, one_by_one(org_unit)),
    ]
