"""HTTP routers of the notifications service (request/response schemas and routing only; logic is in domain/)."""

from __future__ import annotations

from fastapi import APIRouter

from services.notifications.api import agencies, alerts, deadlines, deliveries, inbox, routing, stream
from shared.identity import identity_router

routers: list[APIRouter] = [
    identity_router("notifications:read"),
    alerts.router,
    deadlines.router,
    agencies.router,
    routing.router,
    inbox.router,
    deliveries.router,
    stream.router,
]
