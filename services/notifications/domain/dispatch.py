"""Turning an alert's state change into notices: inbox, live stream, and queued e-mail/webhook deliveries.

`notify` stages the notice rows on the caller's run (domain/run.py), written in the transaction that changed
the alert, so a notice exists if and only if the change committed; sending happens later in the delivery
worker, attempt by attempt.

- The agency's inbox always gets the notice, in the agency's language (the alert's own title and body).
- Every enabled e-mail or webhook channel gets one pending `Delivery`, in the channel's language. E-mail to
  an agency in digest mode is *held* instead, and goes out in the next day's digest (domain/digest.py).
- An agency with no working channel besides the inbox — no enabled channel, or every channel's most recent
  finished delivery failed — also gets the notice copied to the fallback agency's inbox (SNN), flagged
  `fallback_for`, so somebody who reads it hears of it. The delivery worker does the same when a channel's
  last retry fails (`fallback_if_unreachable`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Agency, Alert, Channel, Delivery, InboxMessage, StreamEvent
from services.notifications.domain.messages import Message, render
from services.notifications.domain.run import Run
from services.notifications.domain.stream import STREAM_CHANNEL

DEFAULT_PLAN = "219/KH-UBND"
"""The plan the reporting regime (deadline alerts) belongs to; target alerts carry their own `plan_code`."""
FALLBACK_AGENCY = "SNN"
"""Plan 219's lead agency (Sở Nông nghiệp và PTNT), whose inbox receives the fallback copies."""

SUBJECT_LABEL = {
    "vi": {
        "opened": "Cảnh báo",
        "updated": "Cập nhật",
        "reminder": "Nhắc lại",
        "acknowledged": "Đã tiếp nhận",
        "resolved": "Đã đóng",
    },
    "en": {
        "opened": "Alert",
        "updated": "Update",
        "reminder": "Reminder",
        "acknowledged": "Acknowledged",
        "resolved": "Closed",
    },
}


async def notify(run: Run, alert: Alert, notice: str, now: datetime) -> None:
    """Record `notice` (opened | updated | reminder | acknowledged | resolved) of `alert` on every channel."""
    agency = await agency_of(run, alert.agency_code)
    agency_language = agency.language if agency is not None else "vi"
    digest = agency is not None and agency.digest
    await _to_inbox(run, alert, notice, now, alert.agency_code, Message(alert.title, alert.body))

    channels = await _channels(run, alert.agency_code)
    working = await _working(run, [c.id for c in channels])
    for channel in channels:
        text = text_for(alert, channel.language, agency_language)
        held = channel.kind == "email" and digest
        delivery_id = uuid.uuid4()
        run.stage(
            Delivery,
            {
                "id": delivery_id,
                "alert_id": alert.id,
                "notice": notice,
                "agency_code": alert.agency_code,
                "channel": channel.kind,
                "channel_id": channel.id,
                "address": channel.address,
                "status": "held" if held else "pending",
                "attempts": 0,
                "next_attempt_at": None if held else now,
                "payload": _payload(alert, notice, now, channel.language, text, delivery_id),
                "created_at": now,
            },
        )
    if not working and alert.agency_code != FALLBACK_AGENCY:
        await _fallback(run, alert, notice, now)
    alert.last_notified_at = now
    alert.notify_count = (alert.notify_count or 0) + 1


async def load_directory(run: Run) -> None:
    """Every agency, its enabled channels and whether they work, into the run, in three queries (a city's
    directory is a few dozen agencies): `notify` then asks nothing per agency."""
    session = run.session
    for agency in await session.scalars(select(Agency)):
        run.agencies[agency.code] = agency
        run.channels[agency.code] = []
    channels = (await session.scalars(select(Channel).where(Channel.enabled).order_by(Channel.id))).all()
    for channel in channels:
        if channel.agency_code in run.channels:
            run.channels[channel.agency_code].append(channel)
    failed = await _failed_channels(session, [c.id for c in channels])
    for listed in run.channels.values():
        ids = [c.id for c in listed]
        if ids:
            run.working[tuple(ids)] = set(ids) - failed


async def agency_of(run: Run, code: str) -> Agency | None:
    if code not in run.agencies:
        run.agencies[code] = await run.session.get(Agency, code)
    return run.agencies[code]


async def _channels(run: Run, agency_code: str) -> list[Channel]:
    if agency_code not in run.channels:
        query = select(Channel).where(Channel.agency_code == agency_code, Channel.enabled).order_by(Channel.id)
        run.channels[agency_code] = list((await run.session.scalars(query)).all())
    return run.channels[agency_code]


def text_for(alert: Alert, language: str, agency_language: str) -> Message:
    """The alert's text in `language`: its own title/body when that is its agency's language, else re-rendered."""
    if language == agency_language or "template" not in (alert.data or {}):
        return Message(alert.title, alert.body)
    return render(alert.data, language)


async def _working(run: Run, channel_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Channels whose most recent finished delivery did not fail (a channel never used yet counts as working)."""
    key = tuple(channel_ids)
    if key not in run.working:
        run.working[key] = set(channel_ids) - await _failed_channels(run.session, channel_ids)
    return set(run.working[key])


async def _failed_channels(session: AsyncSession, channel_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of the channels whose most recent finished delivery failed."""
    if not channel_ids:
        return set()
    latest = (
        select(Delivery.channel_id, Delivery.status)
        .where(Delivery.channel_id.in_(channel_ids), Delivery.status.in_(("sent", "failed")))
        .order_by(Delivery.channel_id, Delivery.created_at.desc(), Delivery.id.desc())
        .ext(distinct_on(Delivery.channel_id))
    )
    return {row.channel_id for row in (await session.execute(latest)).all() if row.status == "failed"}


async def fallback_if_unreachable(session: AsyncSession, alert_id: uuid.UUID, notice: str, since: datetime) -> bool:
    """After a channel's last attempt failed: copy the notice to SNN if its agency now has no working channel.

    Skipped when a fallback copy of this notice already exists (made at `notify` time, or by another channel's
    failure). Returns whether a copy was made.
    """
    alert = await session.get(Alert, alert_id)
    if alert is None or alert.agency_code == FALLBACK_AGENCY:
        return False
    run = Run(session)
    # Serialise the decision per agency: two channels failing at once must not each see the other as working.
    await session.execute(select(Agency.code).where(Agency.code == alert.agency_code).with_for_update())
    channel_ids = (
        await session.scalars(select(Channel.id).where(Channel.agency_code == alert.agency_code, Channel.enabled))
    ).all()
    if await _working(run, list(channel_ids)):
        return False
    already = await session.scalar(
        select(
            exists().where(
                InboxMessage.agency_code == FALLBACK_AGENCY,
                InboxMessage.alert_id == alert_id,
                InboxMessage.notice == notice,
                InboxMessage.fallback_for == alert.agency_code,
                InboxMessage.created_at >= since,
            )
        )
    )
    if already:
        return False
    await _fallback(run, alert, notice, since)
    await run.write()
    return True


async def _fallback(run: Run, alert: Alert, notice: str, now: datetime) -> None:
    lead = await agency_of(run, FALLBACK_AGENCY)
    agency = await agency_of(run, alert.agency_code)
    agency_language = agency.language if agency is not None else None
    text = text_for(alert, lead.language if lead is not None else "vi", agency_language or "vi")
    await _to_inbox(run, alert, notice, now, FALLBACK_AGENCY, text, fallback_for=alert.agency_code)


async def _to_inbox(
    run: Run,
    alert: Alert,
    notice: str,
    now: datetime,
    agency_code: str,
    text: Message,
    *,
    fallback_for: str | None = None,
) -> None:
    run.stage(
        InboxMessage,
        {
            "id": uuid.uuid4(),
            "agency_code": agency_code,
            "alert_id": alert.id,
            "notice": notice,
            "title": text.title,
            "body": text.body,
            "fallback_for": fallback_for,
            "created_at": now,
        },
    )
    run.stage(
        StreamEvent,
        {
            "agency_code": agency_code,
            "alert_id": alert.id,
            "event": f"alert.{notice}",
            "data": {**alert_summary(alert, text), "notice": notice, "fallback_for": fallback_for},
            "created_at": now,
        },
    )
    # Delivered at commit (never on rollback) and wakes every replica's stream hub; once per run is enough
    # (PostgreSQL folds identical notifications of one transaction into one anyway).
    if not run.stream_notified:
        await run.session.execute(select(func.pg_notify(STREAM_CHANNEL, "")))
        run.stream_notified = True


def alert_summary(alert: Alert, text: Message) -> dict[str, Any]:
    return {
        "alert_id": str(alert.id),
        "agency_code": alert.agency_code,
        "kind": alert.kind,
        "role": alert.role,
        "state": alert.state,
        "severity": alert.severity,
        "title": text.title,
        "body": text.body,
        "unit_code": alert.unit_code,
        "target_code": alert.target_code,
        "target_id": alert.target_id,
        "deadline_id": str(alert.deadline_id) if alert.deadline_id else None,
        "version": alert.version,
    }


def _payload(
    alert: Alert, notice: str, now: datetime, language: str, text: Message, delivery_id: uuid.UUID
) -> dict[str, Any]:
    """What the worker sends, frozen at notice time: the e-mail's subject/body (title/text for a digest) and
    the webhook's JSON event."""
    lang = language if language in SUBJECT_LABEL else "vi"
    footer = "Mã cảnh báo" if lang == "vi" else "Alert id"
    # A target alert names its own plan (plans are data; a later plan reuses target codes such as II.2.a).
    plan = (alert.data or {}).get("plan_code") or DEFAULT_PLAN
    return {
        "language": lang,
        "title": text.title,
        "text": text.body,
        "subject": f"[HTX Monitor] {SUBJECT_LABEL[lang].get(notice, notice)}: {text.title}",
        "body": f"{text.body}\n\n--\nHTX Monitor · Kế hoạch {plan}\n{footer}: {alert.id}\n",
        "event": {
            "type": f"alert.{notice}",
            "delivery_id": str(delivery_id),
            "occurred_at": now.isoformat(),
            "language": lang,
            "alert": {**alert_summary(alert, text), "data": alert.data},
        },
    }
