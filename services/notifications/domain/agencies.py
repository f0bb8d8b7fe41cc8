"""The agency directory (a projection of `registry.agencies.v1`) and the contact channels owned here.

The registry owns an agency's name, kind, jurisdiction and whether it is active; this service owns how it
wants to be told: message language (vi | en), digest mode, e-mail addresses and webhook endpoints. Events
are applied in version order, and never touch the columns owned here.

`contacts_of` and `replace_contacts` are the use cases behind `/v1/agencies/{code}/channels`; each opens and
owns its transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.db.models import Agency, Channel
from services.notifications.domain.access import require_act_for
from shared.auth import Principal
from shared.errors import NotFound, PreconditionFailed, PreconditionRequired, ValidationFailed
from shared.events.contracts import AgencyV1
from shared.outbound import OutboundPolicy

EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
MIN_SECRET, MAX_SECRET = 16, 200


async def apply_agency(session: AsyncSession, event: AgencyV1) -> bool:
    """Upsert the agency if the event is newer than what we hold; False for an older or repeated version."""
    stmt = insert(Agency).values(
        code=event.code,
        name=event.name,
        kind=event.kind,
        jurisdiction_unit_code=event.jurisdiction_unit_code,
        active=event.active,
        version=event.version,
    )
    owned_by_registry = ("name", "kind", "jurisdiction_unit_code", "active", "version")
    upsert = stmt.on_conflict_do_update(
        index_elements=[Agency.code],
        set_={c: stmt.excluded[c] for c in owned_by_registry},
        where=Agency.version < stmt.excluded.version,
    )
    return (await session.execute(upsert.returning(Agency.code))).first() is not None


@dataclass(frozen=True)
class ChannelInput:
    kind: str  # email | webhook
    address: str
    secret: str | None = None
    enabled: bool = True
    language: str | None = None  # None: the agency's language


@dataclass(frozen=True)
class ContactSettings:
    language: str
    digest: bool
    channels: list[ChannelInput]


@dataclass(frozen=True)
class Contacts:
    """How an agency wants to be told, as one ETag covers it."""

    agency: Agency
    channels: list[Channel]

    @property
    def etag(self) -> str:
        return contact_etag(self.agency, self.channels)


async def contacts_of(sessionmaker: async_sessionmaker[AsyncSession], principal: Principal, code: str) -> Contacts:
    """An agency reads its own; operators read any."""
    require_act_for(principal, code, field="code")
    async with sessionmaker() as session:
        return Contacts(await get_agency(session, code), await channels_of(session, code))


async def get_agency(session: AsyncSession, code: str, *, lock: bool = False) -> Agency:
    query = select(Agency).where(Agency.code == code)
    agency = await session.scalar(query.with_for_update() if lock else query)
    if agency is None:
        raise NotFound(f"Không tìm thấy cơ quan '{code}' (unknown agency)")
    return agency


async def channels_of(session: AsyncSession, code: str) -> list[Channel]:
    rows = await session.scalars(
        select(Channel).where(Channel.agency_code == code).order_by(Channel.kind, Channel.address)
    )
    return list(rows)


def contact_etag(agency: Agency, channels: list[Channel]) -> str:
    """A strong ETag over everything PUT replaces (secrets enter as a hash, never in clear)."""
    state = {
        "language": agency.language,
        "digest": agency.digest,
        "channels": [
            [c.kind, c.address, c.enabled, c.language, hashlib.sha256((c.secret or "").encode()).hexdigest()]
            for c in channels
        ],
    }
    return '"' + hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:32] + '"'


def validate_channels(
    channels: list[ChannelInput], known_secrets: dict[str, str], outbound: OutboundPolicy
) -> list[dict[str, str]]:
    """Field-by-field errors (paths as FastAPI names them: `channels.0.address`).

    A webhook's URL is checked against the outbound policy as far as the URL itself shows (scheme, literal
    addresses, internal names); its resolved addresses are checked again at every connection."""
    errors: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for i, ch in enumerate(channels):
        at = f"channels.{i}"
        if (ch.kind, ch.address) in seen:
            errors.append({"field": f"{at}.address", "message": "listed twice"})
        seen.add((ch.kind, ch.address))
        if ch.kind == "email":
            if not EMAIL.match(ch.address) or len(ch.address) > 320:
                errors.append({"field": f"{at}.address", "message": "not a valid e-mail address"})
            if ch.secret is not None:
                errors.append({"field": f"{at}.secret", "message": "only a webhook has a secret"})
            continue
        refusal = outbound.refusal(ch.address)
        if refusal is not None:
            errors.append({"field": f"{at}.address", "message": refusal})
        if ch.secret is None and ch.address not in known_secrets:
            errors.append(
                {"field": f"{at}.secret", "message": f"required for a new webhook (≥ {MIN_SECRET} characters)"}
            )
        elif ch.secret is not None and not MIN_SECRET <= len(ch.secret) <= MAX_SECRET:
            errors.append({"field": f"{at}.secret", "message": f"must be {MIN_SECRET}–{MAX_SECRET} characters long"})
    return errors


async def replace_contacts(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    code: str,
    wanted: ContactSettings,
    if_match: str | None,
    now: datetime,
    outbound: OutboundPolicy,
) -> Contacts:
    """Replace the agency's language, digest flag and channel list, given the ETag of the last read.

    A channel that stays (same kind and address) keeps its id — deliveries in flight refer to it — and a
    webhook listed without a secret keeps the one it had.
    """
    require_act_for(principal, code, field="code")
    if not if_match:
        raise PreconditionRequired("Cần header If-Match với ETag vừa đọc (If-Match is required for updates)")
    async with sessionmaker() as session, session.begin():
        return await _replace_in(session, code, wanted, if_match, now, outbound)


async def _replace_in(
    session: AsyncSession, code: str, wanted: ContactSettings, if_match: str, now: datetime, outbound: OutboundPolicy
) -> Contacts:
    agency = await get_agency(session, code, lock=True)
    current = await channels_of(session, code)
    if if_match.strip() != contact_etag(agency, current):
        raise PreconditionFailed(
            "Kênh liên lạc đã thay đổi từ lần đọc trước (channels changed since you read them)",
            errors=[{"field": "header.If-Match", "message": f"current ETag is {contact_etag(agency, current)}"}],
        )
    by_address = {(c.kind, c.address): c for c in current}
    known_secrets = {c.address: c.secret for c in current if c.kind == "webhook" and c.secret}
    errors = validate_channels(wanted.channels, known_secrets, outbound)
    if errors:
        raise ValidationFailed(
            "Kênh liên lạc không hợp lệ (invalid channels): " + ", ".join(e["field"] for e in errors), errors=errors
        )
    agency.language, agency.digest = wanted.language, wanted.digest
    keep: set[uuid.UUID] = set()
    for ch in wanted.channels:
        row = by_address.get((ch.kind, ch.address))
        if row is None:
            row = Channel(id=uuid.uuid4(), agency_code=code, kind=ch.kind, address=ch.address, created_at=now)
            session.add(row)
        row.enabled = ch.enabled
        row.language = ch.language or wanted.language
        row.secret = (
            ch.secret if ch.secret is not None else (known_secrets.get(ch.address) if ch.kind == "webhook" else None)
        )
        keep.add(row.id)
    gone = [c.id for c in current if c.id not in keep]
    if gone:
        await session.execute(delete(Channel).where(Channel.id.in_(gone)))
    await session.flush()
    return Contacts(agency, await channels_of(session, code))
