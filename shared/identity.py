"""``GET /v1/me``: who the token says the caller is (mobile backends use it to check a token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from shared.auth import Principal, require_scope


class CallerIdentity(BaseModel):
    subject: str = Field(examples=["can-bo-snn-01"])
    agency: str = Field(examples=["SNN"])
    scopes: list[str] = Field(examples=[["registry:read", "registry:write"]])


def identity_router(read_scope: str) -> APIRouter:
    router = APIRouter(tags=["identity"])

    @router.get("/me", summary="The caller's identity and scopes", response_model=CallerIdentity)
    async def me(principal: Principal = Depends(require_scope(read_scope))) -> CallerIdentity:
        return CallerIdentity(subject=principal.subject, agency=principal.agency, scopes=sorted(principal.scopes))

    return router
