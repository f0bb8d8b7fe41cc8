"""Digest mode: an agency with `digest` on gets one e-mail per address per day instead of one per notice.

`dispatch.notify` stores such an agency's e-mail notices as *held* deliveries. Once a Vietnam-local day is
over — at `NOTIFICATIONS_DIGEST_HOUR` (07:00) the next morning — `collect_digests` folds each address's held
notices of that day into one pending `notice='digest'` delivery (no `alert_id`: it carries many) and marks them
`digested` with a `digest_id` pointing at it; the delivery worker then sends it like any other e-mail, with the
same retries and attempt log. Days missed while the service was down are each collected on the next pass
("due and not yet sent"). A notice committed after its day's digest was built goes out in an extra digest for
that day rather than being dropped. Webhooks and the inbox are never held.
"""

from __future__ import annotations

import uuid
import zlib
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Delivery
from services.notifications.domain.dispatch import SUBJECT_LABEL
from shared.clock import VIETNAM

DIGEST_LOCK = zlib.crc32(b"notifications.digest")

INTRO = {
    "vi": "Các thông báo của HTX Monitor trong ngày {day} ({n} thông báo):",
    "en": "HTX Monitor notices of {day} ({n} notices):",
}
SUBJECT = {
    "vi": "[HTX Monitor] Tổng hợp ngày {day}: {n} thông báo",
    "en": "[HTX Monitor] Daily digest {day}: {n} notices",
}


def digest_cutoff(now: datetime, digest_hour: int) -> datetime:
    """Notices created before this instant belong to days whose digest is due (Vietnam has no DST)."""
    local = now.astimezone(VIETNAM)
    midnight = datetime.combine(local.date(), time(0), VIETNAM)
    return midnight if local.hour >= digest_hour else midnight - timedelta(days=1)


async def collect_digests(session: AsyncSession, now: datetime, digest_hour: int) -> int:
    """Build the digests that are due (in the caller's transaction); returns how many were created."""
    if not await session.scalar(select(func.pg_try_advisory_xact_lock(DIGEST_LOCK))):
        return 0  # another replica is collecting
    held = (
        await session.scalars(
            select(Delivery)
            .where(Delivery.status == "held", Delivery.created_at < digest_cutoff(now, digest_hour))
            .order_by(Delivery.channel_id, Delivery.created_at, Delivery.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    groups: dict[tuple[uuid.UUID | None, str, date], list[Delivery]] = defaultdict(list)
    for row in held:
        groups[(row.channel_id, row.address or "", row.created_at.astimezone(VIETNAM).date())].append(row)
    for (channel_id, address, day), rows in groups.items():
        digest_id = uuid.uuid4()
        session.add(_digest(digest_id, channel_id, address, day, rows, now))
        await session.flush()  # the digest row exists before the held rows point at it
        for row in rows:
            row.status, row.digest_id = "digested", digest_id
    return len(groups)


def _digest(
    digest_id: uuid.UUID, channel_id: uuid.UUID | None, address: str, day: date, rows: list[Delivery], now: datetime
) -> Delivery:
    language = str(rows[0].payload.get("language", "vi"))
    lang = language if language in SUBJECT else "vi"
    shown = day.strftime("%d/%m/%Y")
    parts = [INTRO[lang].format(day=shown, n=len(rows)), ""]
    for number, row in enumerate(rows, start=1):
        label = SUBJECT_LABEL[lang].get(row.notice, row.notice)
        parts += [f"{number}. [{label}] {row.payload.get('title', '')}", str(row.payload.get("text", "")), ""]
    parts += ["--", "HTX Monitor · Kế hoạch 219/KH-UBND"]
    return Delivery(
        id=digest_id,
        alert_id=None,
        notice="digest",
        agency_code=rows[0].agency_code,
        channel="email",
        channel_id=channel_id,
        address=address,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        payload={
            "language": lang,
            "day": day.isoformat(),
            "subject": SUBJECT[lang].format(day=shown, n=len(rows)),
            "body": "\n".join(parts) + "\n",
            "alerts": [str(row.alert_id) for row in rows],
        },
        created_at=now,
    )
