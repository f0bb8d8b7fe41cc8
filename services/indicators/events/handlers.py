"""The indicators service's handler table: every event it consumes, and the function that applies it."""

from __future__ import annotations

from shared.events import contracts
from shared.events.contracts import EventPayload
from shared.messaging.consumer import Subscription
from shared.service import Runtime

CONSUMES: tuple[type[EventPayload], ...] = (contracts.CooperativeStatusV1, contracts.OrgUnitV1)


def handler_table(runtime: Runtime) -> list[Subscription]:
    return []
