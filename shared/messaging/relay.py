"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

At-least-once by construction: a row is marked sent only after the broker acknowledged it, in the same
transaction that locked it. A crash between the two re-publishes the row on the next pass (the consumers'
inboxes absorb the duplicate); it can never lose one.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` and the pass holds a transaction-scoped advisory lock, so
with several replicas exactly one publishes at a time and per-key order on the topic follows commit order
of the outbox ids. Selecting ``published_at IS NULL`` (rather than "ids above the last one seen") means a
row whose id was allocated early but committed late is never skipped — the sequence-gap trap of polling.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import Row, Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import listen_forever
from shared.events.envelope import CloudEvent, encode_data, to_headers
from shared.messaging.kafka import SEND_TIMEOUT_SECONDS
from shared.messaging.outbox import notify_channel
from shared.metrics import OUTBOX_FAILURES, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED, OUTBOX_UNPUBLISHED

log = logging.getLogger(__name__)


PRUNE_BATCH = 5_000  # rows per retention transaction
PRUNE_BATCHES = 10  # most transactions per retention pass
CONTENDED_RETRY_SECONDS = 0.05  # how soon a pass that met another replica's pass looks again
BACKLOG_EVERY_SECONDS = 1.0  # least time between two readings of the backlog gauges


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        table: Table,
        sessionmaker: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        listen_dsn: str | None,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        min_interval_seconds: float = 0.0,
        retention: timedelta | None = None,
        prune_every_seconds: float = 60.0,
    ) -> None:
        self.service = service
        self.table = table
        self.sessionmaker = sessionmaker
        self.producer = producer
        self.listen_dsn = listen_dsn
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.min_interval_seconds = min_interval_seconds
        self.retention = retention  # None: published rows are kept for ever
        self.prune_every_seconds = prune_every_seconds
        self.channel = notify_channel(table.schema or "public")
        self._lock_id = zlib.crc32(f"{table.schema}.{table.name}.relay".encode())
        self._prune_lock_id = zlib.crc32(f"{table.schema}.{table.name}.prune".encode())
        # Built once (a pass runs per NOTIFY, i.e. per committed change at low rates: rebuilding its statements
        # each time cost as much CPU as the request that woke it). The advisory lock is an uncorrelated
        # subquery, evaluated once before any row is read: without the lock the claim reads nothing.
        got_lock = select(func.pg_try_advisory_xact_lock(self._lock_id)).scalar_subquery()
        self._claim = (
            select(table)
            .where(got_lock, table.c.published_at.is_(None))
            .order_by(table.c.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        self._mark = (
            update(table).where(table.c.id.in_(bindparam("ids", expanding=True))).values(published_at=bindparam("at"))
        )
        # Asked only when a claim read nothing: the lock is re-entrant within the transaction, so False means
        # another replica holds it (it is mid-pass).
        self._holds_lock = select(func.pg_try_advisory_xact_lock(self._lock_id))
        self.contended = False  # the last pass found another replica's pass under way
        # The head of the table (lowest ids, through the primary key), and of it the rows published before the
        # cutoff: the work is bounded by the limit whatever the table's size, even when nothing has expired.
        # Under an advisory lock of its own: two replicas deleting the same head at once could deadlock (each
        # DELETE locks the rows it finds, in its own order), so one that finds the lock held deletes nothing and
        # tries again at its next interval. Not the publishing lock: passes touch only unpublished rows, a prune
        # only published ones, and a prune of a minute's 50,000 rows must not hold up the other replica's passes.
        got_prune_lock = select(func.pg_try_advisory_xact_lock(self._prune_lock_id)).scalar_subquery()
        head = select(table.c.id).order_by(table.c.id).limit(bindparam("limit"))
        self._prune = delete(table).where(
            got_prune_lock,
            table.c.id.in_(head),
            table.c.published_at.is_not(None),
            table.c.published_at < bindparam("cutoff"),
        )
        # The backlog: one statement over the partial index of unpublished rows (it holds only the backlog).
        unpublished = table.c.published_at.is_(None)
        self._backlog = select(
            func.count(),
            func.coalesce(func.extract("epoch", func.clock_timestamp() - func.min(table.c.created_at)), 0),
        ).where(unpublished)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    # -- one pass ---------------------------------------------------------------------------------------

    async def publish_pending(self) -> int:
        """Publish every unpublished row, batch by batch; returns how many were published."""
        total = 0
        self.contended = False
        while True:
            published = await self._publish_batch()
            total += published
            if published < self.batch_size:
                return total

    async def _publish_batch(self) -> int:
        async with self.sessionmaker() as session, session.begin():
            # Another replica holding the lock reads nothing here. Its claim may have run before our rows
            # committed, and a row whose writer woke only its own process's relay sends no NOTIFY: so a
            # contended pass is retried shortly (`run`) instead of waiting for the next wake or poll.
            rows = (await session.execute(self._claim)).all()
            if not rows:
                self.contended = not (await session.execute(self._holds_lock)).scalar()
                return 0
            await self._send(rows)
            await self._mark_sent(session, [row.id for row in rows])
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def _send(self, rows: Sequence[Row[Any]]) -> None:
        futures = []
        async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
            for row in rows:
                event = CloudEvent(
                    type=row.event_type,
                    source=row.source,
                    id=row.event_id,
                    time=row.occurred_at,
                    subject=row.subject,
                    traceparent=row.traceparent,
                    data=row.payload,
                )
                futures.append(
                    await self.producer.send(
                        row.topic, value=encode_data(row.payload), key=row.key.encode(), headers=to_headers(event)
                    )
                )
            # Every record acknowledged by the broker before any row is marked sent.
            await asyncio.gather(*futures)

    async def _mark_sent(self, session: AsyncSession, ids: list[int]) -> None:
        await session.execute(self._mark, {"ids": ids, "at": datetime.now(UTC)})

    # -- backlog ----------------------------------------------------------------------------------------

    async def measure_backlog(self) -> tuple[int, float]:
        """Set the backlog gauges: how many rows are unpublished and how old the oldest is (seconds)."""
        async with self.sessionmaker() as session:
            count, age = (await session.execute(self._backlog)).one()
        OUTBOX_UNPUBLISHED.labels(self.service).set(count)
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(age))
        return int(count), float(age)

    async def _measure_if_due(self, last: float, now: float) -> float:
        """At most once per `BACKLOG_EVERY_SECONDS` (a pass can run every 50 ms); a failure keeps the last
        figures — while the database is down the relay's failure counter says more."""
        if now - last < BACKLOG_EVERY_SECONDS:
            return last
        try:
            async with asyncio.timeout(2.0):
                await self.measure_backlog()
        except Exception:
            log.debug("outbox backlog not measured", exc_info=True)
        return now

    # -- retention --------------------------------------------------------------------------------------

    async def prune(self, older_than: timedelta, *, limit: int = PRUNE_BATCH) -> int:
        """Delete up to `limit` rows published more than `older_than` ago, oldest first; returns how many (0 while
        another replica is pruning).

        A published row has done its job (the broker holds the event; the consumers' inboxes absorb any
        re-publication): kept for ever, the table only grew. An unpublished row is never deleted, however old.
        """
        params = {"cutoff": datetime.now(UTC) - older_than, "limit": limit}
        async with self.sessionmaker() as session, session.begin():
            result = await session.execute(self._prune, params)
        return int(getattr(result, "rowcount", 0) or 0)

    async def _prune_if_due(self, last: float, now: float) -> float:
        """Prune when `prune_every_seconds` have passed since `last`; returns when it last pruned. Batches of
        `PRUNE_BATCH` follow each other while they come back full, up to `PRUNE_BATCHES` (so a pass can keep up
        with ~800 new rows a second at the default interval without one long transaction). A failure is logged
        and retried at the next interval: retention never stops publication."""
        if self.retention is None or now - last < self.prune_every_seconds:
            return last
        deleted = 0
        try:
            for _ in range(PRUNE_BATCHES):
                batch = await self.prune(self.retention)
                deleted += batch
                if batch < PRUNE_BATCH or self._stopping.is_set():
                    break
        except Exception:
            log.warning("outbox retention pass failed; will retry", exc_info=True)
        if deleted:
            log.info("outbox: %d published row(s) past retention deleted", deleted)
        return now

    # -- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Publish on every NOTIFY (and every `poll_seconds` as a safety net) until :meth:`stop`."""
        listener = (
            asyncio.create_task(
                listen_forever(self.listen_dsn, self.channel, self._wake, what=f"{self.service} outbox relay"),
                name=f"{self.service}-outbox-listen",
            )
            if self.listen_dsn
            else None
        )
        backoff = 0.5
        loop = asyncio.get_running_loop()
        pruned_at = loop.time() - self.prune_every_seconds  # the first pass prunes
        measured_at = loop.time() - BACKLOG_EVERY_SECONDS  # and measures the backlog
        try:
            while not self._stopping.is_set():
                # At most one pass per `min_interval_seconds`: under a steady stream of commits each pass then
                # takes the rows of several instead of one (a pass costs four statements and a broker round
                # trip whatever it carries). A commit after a quiet spell is published at once.
                started = loop.time()
                self._wake.clear()
                try:
                    await self.publish_pending()
                    backoff = 0.5
                except Exception:
                    # Broker or database down: nothing is lost (rows stay unpublished); retry with backoff.
                    OUTBOX_FAILURES.labels(self.service).inc()
                    log.warning("outbox relay pass failed; will retry", exc_info=True)
                    measured_at = await self._measure_if_due(measured_at, loop.time())  # the backlog grows now
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                pruned_at = await self._prune_if_due(pruned_at, loop.time())
                measured_at = await self._measure_if_due(measured_at, loop.time())
                if self.contended:
                    await self._sleep(max(self.min_interval_seconds, CONTENDED_RETRY_SECONDS))
                    continue
                await self._sleep(self.poll_seconds, wake=True)
                left = self.min_interval_seconds - (loop.time() - started)
                if left > 0:
                    await self._sleep(left)
        finally:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    async def _sleep(self, seconds: float, *, wake: bool = False) -> None:
        """Sleep until `seconds` pass, :meth:`stop` is called, or (with `wake`) a NOTIFY arrives."""
        events = [self._stopping, self._wake] if wake else [self._stopping]
        waiters = [asyncio.create_task(event.wait()) for event in events]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def wake(self) -> None:
        """A change committed by this process is in the outbox: a pass now, as a NOTIFY would start it (subject to
        `min_interval_seconds` like any wake), without the NOTIFY's cost in PostgreSQL and in the listener."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
