"""HTTP routers of the indicators service (request/response schemas and routing only; logic is in domain/)."""

from __future__ import annotations

from fastapi import APIRouter

from services.indicators.api import plans, progress
from shared.identity import identity_router

routers: list[APIRouter] = [identity_router("indicators:read"), plans.router, progress.router]
