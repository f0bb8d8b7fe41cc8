"""The indicators service: its spec, and the app factory uvicorn and the tests call."""

from __future__ import annotations

from fastapi import FastAPI

from services.indicators.api import routers
from services.indicators.db.models import inbox, metadata, outbox
from services.indicators.events.handlers import CONSUMES, handler_table
from services.indicators.settings import IndicatorsSettings
from services.indicators.workers.reassess import reassess_periodically
from services.indicators.workers.startup import load_shipped_plans
from shared.clock import Clock
from shared.events import contracts
from shared.service import ServiceSpec, build_app

SPEC = ServiceSpec(
    name="indicators",
    title="HTX Monitor — Indicators (Chỉ tiêu kế hoạch)",
    description=(
        "Plan 219/KH-UBND measured live: indicator values per administrative unit and each target's progress and risk."
    ),
    metadata=metadata,
    outbox_table=outbox,
    inbox_table=inbox,
    publishes=(contracts.IndicatorValueV1, contracts.TargetStatusV1),
    consumes=CONSUMES,
    handler_table=handler_table,
    routers=routers,
    on_startup=[load_shipped_plans],
    workers=[reassess_periodically],
)


def create_app(*, settings: IndicatorsSettings | None = None, clock: Clock | None = None) -> FastAPI:
    # No agency directory here: the indicators schema keeps no agencies (only the plan's routing codes), and its
    # API serves read-only city statistics, so a token's agency is not checked beyond the signature.
    return build_app(SPEC, IndicatorsSettings, settings=settings, clock=clock)
