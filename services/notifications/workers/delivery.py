"""The delivery worker: builds due digests, then sends due e-mails and webhooks, attempt by attempt.

Safe with several replicas: deliveries are claimed with `FOR UPDATE SKIP LOCKED` and a lease, digests are
built under an advisory lock (see domain/delivery.py and domain/digest.py). Sending happens with no lock or
transaction open. Tests call `deliver_due(runtime, now)` directly with a FixedClock's time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import httpx

from services.notifications.domain import email, webhooks
from services.notifications.domain.delivery import Claimed, RetryPolicy, claim_due, record_outcome
from services.notifications.domain.digest import collect_digests
from services.notifications.domain.outcome import Outcome
from services.notifications.settings import NotificationsSettings, settings_of
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


async def deliver_due(runtime: Runtime, now: datetime) -> int:
    """One pass: claim up to a batch of due deliveries, send them, record every attempt. Returns how many."""
    cfg = settings_of(runtime)
    policy = retry_policy(cfg)
    async with runtime.sessionmaker() as session, session.begin():
        claimed = await claim_due(session, now, policy, cfg.delivery_batch_size)
    if not claimed:
        return 0
    smtp = smtp_config(cfg)
    limit = asyncio.Semaphore(cfg.delivery_concurrency)
    timeout = httpx.Timeout(cfg.webhook_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:

        async def attempt(item: Claimed) -> None:
            async with limit:
                outcome = await _send(item, client, smtp, now)
            async with runtime.sessionmaker() as session, session.begin():
                status = await record_outcome(session, item, outcome, now, policy)
            log.info(
                "delivery attempt",
                extra={"delivery": str(item.id), "channel": item.channel, "attempt": item.attempt, "status": status},
            )

        results = await asyncio.gather(*(attempt(item) for item in claimed), return_exceptions=True)
    for item, result in zip(claimed, results, strict=True):
        if isinstance(result, BaseException):
            # Not recorded (database trouble): the lease runs out and the delivery is attempted again.
            log.warning("could not record a delivery attempt", extra={"delivery": str(item.id)}, exc_info=result)
    return len(claimed)


async def _send(item: Claimed, client: httpx.AsyncClient, smtp: email.SmtpConfig, now: datetime) -> Outcome:
    event = f"alert.{item.notice}"
    try:
        if item.channel == "email":
            subject, body = str(item.payload["subject"]), str(item.payload["body"])
            return await email.send(smtp, item.address, subject, body, delivery_id=str(item.id), now=now, event=event)
        if item.channel == "webhook":
            return await webhooks.post(
                client, item.address, item.secret, delivery_id=str(item.id), event=item.payload["event"], now=now
            )
        return Outcome.permanent(f"unknown channel kind {item.channel!r}")
    except Exception as exc:  # a bug or an unforeseen library error must not lose the attempt's record
        log.exception("delivery attempt raised", extra={"delivery": str(item.id)})
        return Outcome.transient(f"{type(exc).__name__}: {exc}"[:500])


async def run_deliveries(runtime: Runtime) -> None:
    """The worker loop (listed in the service spec's `workers`): digests, then every due delivery, then a nap."""
    cfg = settings_of(runtime)
    while True:
        try:
            await build_digests(runtime, runtime.clock.now())
        except Exception:
            log.warning("digest pass failed; will try again", exc_info=True)
        try:  # a digest problem must not hold up the other deliveries
            while await deliver_due(runtime, runtime.clock.now()) >= cfg.delivery_batch_size:
                pass
        except Exception:
            log.warning("delivery pass failed; will try again", exc_info=True)
        if await runtime.pause(cfg.delivery_poll_seconds):
            return
