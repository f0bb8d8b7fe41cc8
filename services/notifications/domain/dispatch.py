"""Turning an alert's state change into notices: inbox, live stream, and queued e-mail/webhook deliveries.

`notify` runs inside the caller's transaction (the one that changed the alert), so a notice exists if and
only if the change committed; sending happens later in the delivery worker, attempt by attempt.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Alert, Channel, Delivery, InboxMessage, StreamEvent


async def notify(session: AsyncSession, alert: Alert, notice: str, now: datetime) -> None:
    """Record `notice` (opened | updated | reminder | acknowledged | resolved) of `alert` on every channel."""
    session.add(
        InboxMessage(
            agency_code=alert.agency_code,
            alert_id=alert.id,
            notice=notice,
            title=alert.title,
            body=alert.body,
            created_at=now,
        )
    )
    session.add(
        StreamEvent(
            agency_code=alert.agency_code,
            alert_id=alert.id,
            event=f"alert.{notice}",
            data={
                "alert_id": str(alert.id),
                "state": alert.state,
                "kind": alert.kind,
                "title": alert.title,
                "unit_code": alert.unit_code,
                "target_code": alert.target_code,
            },
            created_at=now,
        )
    )
    channels = (
        await session.scalars(select(Channel).where(Channel.agency_code == alert.agency_code, Channel.enabled))
    ).all()
    for channel in channels:
        session.add(
            Delivery(
                alert_id=alert.id,
                notice=notice,
                agency_code=alert.agency_code,
                channel=channel.kind,
                channel_id=channel.id,
                address=channel.address,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                payload={"title": alert.title, "body": alert.body},
                created_at=now,
            )
        )
    alert.last_notified_at = now
    alert.notify_count += 1
