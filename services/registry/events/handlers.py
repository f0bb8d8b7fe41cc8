"""The registry service's handler table: every event it consumes, and the function that applies it."""

from __future__ import annotations

from shared.events.contracts import EventPayload
from shared.messaging.consumer import Subscription
from shared.service import Runtime

CONSUMES: tuple[type[EventPayload], ...] = ()


def handler_table(runtime: Runtime) -> list[Subscription]:
    return []
