"""The notifications service: its spec, and the app factory uvicorn and the tests call."""

from __future__ import annotations

from fastapi import FastAPI

from services.notifications.api import routers
from services.notifications.api.stream import close_stream
from services.notifications.db.models import Agency, inbox, metadata, outbox
from services.notifications.events.handlers import CONSUMES, handler_table
from services.notifications.settings import NotificationsSettings
from services.notifications.workers.delivery import run_deliveries
from services.notifications.workers.scheduler import schedule_periodically
from shared.auth.agencies import install_agency_directory
from shared.clock import Clock
from shared.events import contracts
from shared.service import ServiceSpec, build_app

SPEC = ServiceSpec(
    name="notifications",
    title="HTX Monitor — Notifications (Cảnh báo và nhắc hạn)",
    description=(
        "Deadline reminders and target-risk alerts to the responsible agency: inbox, live stream, "
        "e-mail and signed webhooks."
    ),
    metadata=metadata,
    outbox_table=outbox,
    inbox_table=inbox,
    publishes=(contracts.AlertV1,),
    consumes=CONSUMES,
    handler_table=handler_table,
    routers=routers,
    workers=[
        run_deliveries,
        schedule_periodically,
    ],
    on_shutdown=[close_stream],
)


def create_app(*, settings: NotificationsSettings | None = None, clock: Clock | None = None) -> FastAPI:
    app = build_app(SPEC, NotificationsSettings, settings=settings, clock=clock)
    install_agency_directory(app, Agency.__table__)  # a token's agency must be one of ours, and active
    return app
