"""Where an alert's notices went: every delivery of it (and any digest that carried it), attempt by attempt.

Visible to the alert's agency, to an agency that received the alert in its inbox (SNN, for fallback copies),
and to operators; to anybody else the alert does not exist.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Alert, Delivery, DeliveryAttempt, InboxMessage
from shared.errors import NotFound


@dataclass
class DeliveryLog:
    alert: Alert
    deliveries: Sequence[Delivery]
    attempts: dict[uuid.UUID, list[DeliveryAttempt]]
    fallback_to: list[str]


async def delivery_log(session: AsyncSession, alert_id: uuid.UUID, *, agency_code: str, operator: bool) -> DeliveryLog:
    alert = await session.get(Alert, alert_id)
    if alert is None or not (
        operator or alert.agency_code == agency_code or await _received(session, alert_id, agency_code)
    ):
        raise NotFound(
            f"Không tìm thấy cảnh báo '{alert_id}' (no such alert for your agency)",
            errors=[{"field": "query.alert_id", "message": "not an alert the caller's agency may see"}],
        )
    own = select(Delivery.digest_id).where(Delivery.alert_id == alert_id, Delivery.digest_id.is_not(None))
    deliveries = (
        await session.scalars(
            select(Delivery)
            .where(or_(Delivery.alert_id == alert_id, Delivery.id.in_(own)))
            .order_by(Delivery.created_at, Delivery.id)
        )
    ).all()
    attempts: dict[uuid.UUID, list[DeliveryAttempt]] = defaultdict(list)
    if deliveries:
        rows = await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.attempt, DeliveryAttempt.id)
        )
        for row in rows:
            attempts[row.delivery_id].append(row)
    fallback_to = (
        await session.scalars(
            select(InboxMessage.agency_code)
            .where(InboxMessage.alert_id == alert_id, InboxMessage.fallback_for.is_not(None))
            .distinct()
            .order_by(InboxMessage.agency_code)
        )
    ).all()
    return DeliveryLog(alert, deliveries, attempts, list(fallback_to))


async def _received(session: AsyncSession, alert_id: uuid.UUID, agency_code: str) -> bool:
    query = select(exists().where(InboxMessage.alert_id == alert_id, InboxMessage.agency_code == agency_code))
    return bool(await session.scalar(query))
