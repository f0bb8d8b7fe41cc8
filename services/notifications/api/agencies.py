"""`/v1/agencies/{code}/channels`: how an agency wants to be told (language, digest, e-mail, webhooks).

An agency manages its own; operators manage any. Replacing needs the ETag of the last read in `If-Match`.
Webhook secrets are write-only: a read says whether one is set, never what it is; a PUT that lists a known
webhook without `secret` keeps the one it had.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from services.notifications.domain.access import READ, WRITE
from services.notifications.domain.agencies import (
    MAX_SECRET,
    MIN_SECRET,
    ChannelInput,
    Contacts,
    ContactSettings,
    contacts_of,
    replace_contacts,
)
from services.notifications.settings import settings_of
from shared.auth import Principal, require_scope
from shared.service import Runtime, get_runtime
from shared.text import AGENCY_CODE, NO_CONTROL_CHARACTERS

router = APIRouter(prefix="/agencies", tags=["agencies and channels"])
CODE = Path(..., max_length=30, pattern=AGENCY_CODE, examples=["UBND-926"])
Language = Literal["vi", "en"]


class ChannelIn(BaseModel):
    """The rules per kind (an e-mail address, an http(s) URL, a webhook's secret) are checked by the domain with the
    stored channels (a known webhook keeps its secret), so that one answer names every invalid field."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["email", "webhook"]
    address: str = Field(
        min_length=3,
        max_length=1000,
        pattern=NO_CONTROL_CHARACTERS,
        description="E-mail address, or the webhook's absolute https URL on the public internet (loopback, private, "
        "link-local and internal names are refused unless the deployment allow-lists them)",
    )
    secret: str | None = Field(
        None,
        max_length=MAX_SECRET,
        pattern=NO_CONTROL_CHARACTERS,
        description=f"Webhook HMAC-SHA256 key, ≥ {MIN_SECRET} characters; required for a new webhook, "
        "omit to keep the current one; an e-mail channel has none",
    )
    enabled: bool = True
    language: Language | None = Field(None, description="Default: the agency's language")


class ContactsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Language = "vi"
    digest: bool = Field(False, description="One message per day instead of one per alert")
    channels: list[ChannelIn] = Field(default_factory=list, max_length=20)


class ChannelOut(BaseModel):
    id: uuid.UUID
    kind: str
    address: str
    enabled: bool
    language: str
    has_secret: bool


class ContactsOut(BaseModel):
    agency: str
    name: str
    language: str
    digest: bool
    channels: list[ChannelOut] = Field(description="Besides these, every alert always goes to the in-app inbox")


CONTACTS_EXAMPLE = {
    "language": "vi",
    "digest": False,
    "channels": [
        {"kind": "email", "address": "phongkinhte@phongdien.cantho.gov.vn", "enabled": True},
        {
            "kind": "webhook",
            "address": "https://egov.phongdien.cantho.gov.vn/htx/canh-bao",
            "secret": "khoa-bi-mat-it-nhat-16-ky-tu",
            "enabled": True,
            "language": "vi",
        },
    ],
}
PROBLEMS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid bearer token"},
    403: {"description": "Missing scope, or another agency's channels"},
    404: {"description": "Unknown agency"},
}


def render(contacts: Contacts) -> ContactsOut:
    agency = contacts.agency
    return ContactsOut(
        agency=agency.code,
        name=agency.name,
        language=agency.language,
        digest=agency.digest,
        channels=[
            ChannelOut(
                id=c.id,
                kind=c.kind,
                address=c.address,
                enabled=c.enabled,
                language=c.language,
                has_secret=bool(c.secret),
            )
            for c in contacts.channels
        ],
    )


@router.get(
    "/{code}/channels", response_model=ContactsOut, summary="Kênh nhận cảnh báo (contact channels)", responses=PROBLEMS
)
async def get_channels(
    response: Response,
    code: str = CODE,
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(READ)),
) -> ContactsOut:
    contacts = await contacts_of(runtime.sessionmaker, principal, code)
    response.headers["ETag"] = contacts.etag
    return render(contacts)


@router.put(
    "/{code}/channels",
    response_model=ContactsOut,
    summary="Thay toàn bộ kênh nhận cảnh báo (replace the channels; needs If-Match)",
    responses={
        **PROBLEMS,
        412: {"description": "Stale ETag"},
        422: {
            "description": "Invalid channel, a channel listed twice, a webhook URL the outbound policy refuses, or "
            "a new webhook without `secret`; each error names its field (e.g. channels.1.address)"
        },
        428: {"description": "If-Match missing"},
    },
)
async def put_channels(
    response: Response,
    code: str = CODE,
    data: ContactsIn = Body(..., examples=[CONTACTS_EXAMPLE]),
    if_match: str | None = Header(None, alias="If-Match", description="The ETag from your last GET"),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(WRITE)),
) -> ContactsOut:
    wanted = ContactSettings(
        language=data.language,
        digest=data.digest,
        channels=[ChannelInput(c.kind, c.address.strip(), c.secret, c.enabled, c.language) for c in data.channels],
    )
    contacts = await replace_contacts(
        runtime.sessionmaker,
        principal,
        code,
        wanted,
        if_match,
        runtime.clock.now(),
        settings_of(runtime).outbound_policy(),
    )
    response.headers["ETag"] = contacts.etag
    return render(contacts)
