"""HTTP routers of the registry service (request/response schemas and routing only; logic is in domain/)."""

from __future__ import annotations

from fastapi import APIRouter

from services.registry.api import cooperatives, reference, status_reports, submissions, transfer
from shared.identity import identity_router

routers: list[APIRouter] = [
    transfer.router,  # before cooperatives: `/cooperatives/export` is not a cooperative id
    cooperatives.router,
    status_reports.router,
    submissions.router,
    reference.router,
    identity_router("registry:read"),
]
