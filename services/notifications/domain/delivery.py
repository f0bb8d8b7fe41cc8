"""Delivery bookkeeping: claim due deliveries, record each attempt, retry with backoff, give up, fall back.

A delivery is *claimed* in a short transaction (`FOR UPDATE SKIP LOCKED`, so replicas never take the same
row): its attempt counter goes up and `next_attempt_at` moves one lease ahead. The sending happens after that
transaction committed, without any lock held; the outcome is then recorded in a second transaction. If the
process dies in between, the lease expires and another pass sends again — e-mail and webhooks are therefore
**at least once**, with at most one extra send per lease; webhook receivers de-duplicate with the
`X-HTX-Delivery` header and mail clients with the Message-ID (both are the delivery id). A delivery whose last
allowed attempt ended without a recorded outcome is marked failed at its next claim.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Channel, Delivery, DeliveryAttempt
from services.notifications.domain.dispatch import fallback_if_unreachable
from services.notifications.domain.outcome import Outcome

_jitter = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 30.0
    max_delay: float = 3600.0
    lease: float = 300.0

    def delay(self, attempt: int, *, retry_after: float | None = None) -> timedelta:
        """Wait after failed attempt `attempt` (1-based): base·2^(attempt-1), capped, jittered into its upper half.

        "Equal jitter": spread enough that many receivers failing at once do not retry in lock-step, while each
        wait is still at least the whole previous one — the backoff never shrinks.
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        seconds = ceiling / 2 + _jitter.random() * ceiling / 2
        if retry_after is not None:
            seconds = max(seconds, min(retry_after, self.max_delay))
        return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for one attempt (a snapshot; the row itself is not locked while sending)."""

    id: uuid.UUID
    channel: str
    address: str
    notice: str
    attempt: int
    payload: dict[str, Any]
    secret: str | None


async def claim_due(session: AsyncSession, now: datetime, policy: RetryPolicy, limit: int) -> list[Claimed]:
    """Take up to `limit` due deliveries for one attempt each (in the caller's short transaction)."""
    rows = (
        await session.execute(
            select(Delivery, Channel.secret)
            .outerjoin(Channel, Channel.id == Delivery.channel_id)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(of=Delivery, skip_locked=True)
        )
    ).all()
    claimed: list[Claimed] = []
    for delivery, secret in rows:
        if delivery.attempts >= policy.max_attempts:
            # Its last attempt's lease ran out with no outcome recorded (the sender died): no attempts are left.
            await _give_up(session, delivery, "no outcome recorded for the last attempt (lease expired)", now)
            continue
        delivery.attempts += 1
        delivery.next_attempt_at = now + timedelta(seconds=policy.lease)
        claimed.append(
            Claimed(
                id=delivery.id,
                channel=delivery.channel,
                address=delivery.address or "",
                notice=delivery.notice,
                attempt=delivery.attempts,
                payload=delivery.payload,
                secret=secret,
            )
        )
    return claimed


async def record_outcome(
    session: AsyncSession, item: Claimed, outcome: Outcome, now: datetime, policy: RetryPolicy
) -> str:
    """Store the attempt and move the delivery on: sent, retry later, or failed. Returns the new status."""
    session.add(
        DeliveryAttempt(delivery_id=item.id, attempt=item.attempt, at=now, ok=outcome.ok, detail=outcome.detail)
    )
    delivery = await session.get(Delivery, item.id, with_for_update=True)
    if delivery is None or delivery.status != "pending":
        return delivery.status if delivery is not None else "gone"  # a re-send after a lease already settled it
    if outcome.ok:
        delivery.status, delivery.sent_at, delivery.next_attempt_at = "sent", now, None
        delivery.last_error = None
        return "sent"
    delivery.last_error = outcome.detail
    if delivery.attempts != item.attempt:
        return "pending"  # our lease expired and a newer attempt is under way: that one decides
    if not outcome.retry or item.attempt >= policy.max_attempts:
        await _give_up(session, delivery, outcome.detail, now)
        return "failed"
    delivery.next_attempt_at = now + policy.delay(item.attempt, retry_after=outcome.retry_after)
    return "pending"


async def _give_up(session: AsyncSession, delivery: Delivery, reason: str, now: datetime) -> None:
    delivery.status, delivery.next_attempt_at, delivery.last_error = "failed", None, reason
    await session.flush()  # the fallback check reads this row's new status
    if delivery.alert_id is not None:
        await fallback_if_unreachable(session, delivery.alert_id, delivery.notice, delivery.created_at)
        return
    # A digest: each notice it carried is checked on its own.
    carried = (await session.execute(select(Delivery).where(Delivery.digest_id == delivery.id))).scalars().all()
    for held in carried:
        if held.alert_id is not None:
            await fallback_if_unreachable(session, held.alert_id, held.notice, held.created_at)


async def release(session: AsyncSession, items: list[Claimed], at: datetime) -> None:
    """Give claimed deliveries back unattempted (their destination is busy): due again at `at`, the attempt
    not counted. A delivery another sender has claimed since is left alone."""
    for item in items:
        delivery = await session.get(Delivery, item.id, with_for_update=True)
        if delivery is not None and delivery.status == "pending" and delivery.attempts == item.attempt:
            delivery.attempts -= 1
            delivery.next_attempt_at = at
