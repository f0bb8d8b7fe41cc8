"""HTTP routers of the registry service (request/response schemas and routing only; logic is in domain/)."""

from __future__ import annotations

from fastapi import APIRouter

from services.registry.api import cooperatives, reference, submissions
from shared.identity import identity_router

routers: list[APIRouter] = [
    identity_router("registry:read"),
    reference.router,
    cooperatives.router,
    submissions.router,
]
