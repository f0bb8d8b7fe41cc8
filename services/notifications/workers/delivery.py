"""The delivery worker: builds due digests, then sends due e-mails and webhooks, attempt by attempt.

Sends are isolated per destination (`DeliveryPool`): one agency's slow receivers cannot hold up another's.
Safe with several replicas: deliveries are claimed with `FOR UPDATE SKIP LOCKED` and a lease, digests are
built under an advisory lock (see domain/delivery.py and domain/digest.py). Sending happens with no lock or
transaction open. Tests call `deliver_due(runtime, now)` directly with a FixedClock's time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from services.notifications.domain import email, webhooks
from services.notifications.domain.delivery import Claimed, RetryPolicy, claim_due, record_outcome, release
from services.notifications.domain.digest import collect_digests
from services.notifications.domain.outcome import Outcome
from services.notifications.settings import NotificationsSettings, settings_of
from shared.outbound import VettedTransport
from shared.service import Runtime

log = logging.getLogger(__name__)


def retry_policy(cfg: NotificationsSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=cfg.delivery_max_attempts,
        base_delay=cfg.delivery_base_delay_seconds,
        max_delay=cfg.delivery_max_delay_seconds,
        lease=cfg.delivery_lease_seconds,
    )


def smtp_config(cfg: NotificationsSettings) -> email.SmtpConfig:
    return email.SmtpConfig(
        host=cfg.smtp_host,
        port=cfg.smtp_port,
        starttls=cfg.smtp_starttls,
        user=cfg.smtp_user,
        password=cfg.smtp_password.get_secret_value() if cfg.smtp_password else None,
        sender=cfg.smtp_from,
        timeout=cfg.smtp_timeout_seconds,
    )


async def build_digests(runtime: Runtime, now: datetime) -> int:
    """Fold the held e-mail notices of every finished day into one digest delivery per address and day."""
    cfg = settings_of(runtime)
    async with runtime.sessionmaker() as session, session.begin():
        return await collect_digests(session, now, cfg.digest_hour)


class DeliveryPool:
    """The sends in flight: at most `delivery_concurrency` in all and `delivery_per_destination` per destination.

    A slow destination holds only its own few slots; the rest keep flowing, and deliveries claimed for a
    destination that is full are given back unattempted (due again after a poll), so they neither wait in
    memory nor count as attempts. Each send runs as its own task, so a new delivery is claimed as soon as a
    slot frees up, never after the slowest send of a batch.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.cfg = cfg = settings_of(runtime)
        self.policy = retry_policy(cfg)
        self.smtp = smtp_config(cfg)
        self.client = httpx.AsyncClient(
            transport=VettedTransport(cfg.outbound_policy()),
            timeout=httpx.Timeout(cfg.webhook_timeout_seconds),
            follow_redirects=False,
        )
        self.busy: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.freed = asyncio.Event()

    async def fill(self, now: datetime) -> int:
        """Claim due deliveries and start those that fit; give back the rest. Returns how many started."""
        free = self.cfg.delivery_concurrency - len(self.tasks)
        if free <= 0:
            return 0
        async with self.runtime.sessionmaker() as session, session.begin():
            claimed = await claim_due(session, now, self.policy, self.cfg.delivery_batch_size)
        started, waiting = 0, []
        for item in claimed:
            where = destination_of(item)
            if started >= free or self.busy[where] >= self.cfg.delivery_per_destination:
                waiting.append(item)
                continue
            self.busy[where] += 1
            task = asyncio.create_task(self._attempt(item, where, now))
            self.tasks.add(task)
            task.add_done_callback(self._done)
            started += 1
        if waiting:
            later = now + timedelta(seconds=self.cfg.delivery_poll_seconds)
            async with self.runtime.sessionmaker() as session, session.begin():
                await release(session, waiting, later)
        return started

    async def _attempt(self, item: Claimed, where: str, now: datetime) -> None:
        try:
            outcome = await _send(item, self.client, self.smtp, now, self.cfg.webhook_timeout_seconds)
            async with self.runtime.sessionmaker() as session, session.begin():
                status = await record_outcome(session, item, outcome, now, self.policy)
            log.info(
                "delivery attempt",
                extra={"delivery": str(item.id), "channel": item.channel, "attempt": item.attempt, "status": status},
            )
        except Exception:
            # Not recorded (database trouble): the lease runs out and the delivery is attempted again.
            log.warning("could not record a delivery attempt", extra={"delivery": str(item.id)}, exc_info=True)
        finally:
            self.busy[where] -= 1

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.freed.set()

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def wait_for_slot(self, seconds: float) -> bool:
        """Nap until a send finishes or `seconds` pass; True when the service is stopping."""
        self.freed.clear()
        waiters = [asyncio.create_task(self.runtime.stopping.wait()), asyncio.create_task(self.freed.wait())]
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        return self.runtime.stopping.is_set()

    async def close(self) -> None:
        """Stop the sends still in flight (their leases run out and they are sent again) and the client."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*list(self.tasks), return_exceptions=True)
        await self.client.aclose()


def destination_of(item: Claimed) -> str:
    """Where a send goes, as the per-destination limit counts it: a webhook's origin, or the SMTP relay."""
    if item.channel != "webhook":
        return item.channel  # every e-mail goes through the one relay
    try:
        parts = urlsplit(item.address)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"
    except ValueError:
        return item.address


async def deliver_due(runtime: Runtime, now: datetime) -> int:
    """One pass: claim the due deliveries, send those that fit and wait for them. Returns how many were sent."""
    pool = DeliveryPool(runtime)
    try:
        started = await pool.fill(now)
        await pool.drain()
    finally:
        await pool.close()
    return started


async def _send(
    item: Claimed, client: httpx.AsyncClient, smtp: email.SmtpConfig, now: datetime, budget: float
) -> Outcome:
    event = f"alert.{item.notice}"
    try:
        if item.channel == "email":
            subject, body = str(item.payload["subject"]), str(item.payload["body"])
            return await email.send(smtp, item.address, subject, body, delivery_id=str(item.id), now=now, event=event)
        if item.channel == "webhook":
            return await webhooks.post(
                client,
                item.address,
                item.secret,
                delivery_id=str(item.id),
                event=item.payload["event"],
                now=now,
                budget=budget,
            )
        return Outcome.permanent(f"unknown channel kind {item.channel!r}")
    except Exception as exc:  # a bug or an unforeseen library error must not lose the attempt's record
        log.exception("delivery attempt raised", extra={"delivery": str(item.id)})
        return Outcome.transient(f"{type(exc).__name__}: {exc}"[:500])


async def run_deliveries(runtime: Runtime) -> None:
    """The worker loop (listed in the service spec's `workers`): digests each poll; deliveries whenever a send
    slot is free."""
    cfg = settings_of(runtime)
    pool = DeliveryPool(runtime)
    digested_at = float("-inf")
    try:
        while True:
            if time.monotonic() - digested_at >= cfg.delivery_poll_seconds:
                digested_at = time.monotonic()
                try:
                    await build_digests(runtime, runtime.clock.now())
                except Exception:
                    log.warning("digest pass failed; will try again", exc_info=True)
            try:  # a digest problem must not hold up the other deliveries
                await pool.fill(runtime.clock.now())
            except Exception:
                log.warning("delivery pass failed; will try again", exc_info=True)
            if await pool.wait_for_slot(cfg.delivery_poll_seconds):
                return
    finally:
        await pool.close()
