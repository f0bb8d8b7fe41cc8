"""HTTP routers of the indicators service (request/response schemas and routing only; logic is in domain/)."""

from __future__ import annotations

from fastapi import APIRouter

from shared.identity import identity_router

routers: list[APIRouter] = [identity_router("indicators:read")]
