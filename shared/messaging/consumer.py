"""The consumer runner: at-least-once delivery in, exactly-once effects out.

For each fetched batch of records: parse the CloudEvents; in ONE database transaction insert every
``(consumer, source#id)`` into the inbox and apply the handlers' effects, in order, for the events that were not
there yet (a duplicate delivery hits the primary key and changes nothing); only after that transaction commits
are the offsets ``{tp: last + 1}`` committed to Kafka. A handler applies a run of consecutive new events of its
type at once (the indicators service folds them into one recomputation); a single event is a run of one.

When a batch fails for any reason other than an outage, it is rolled back and its records are applied again one
per transaction, exactly as a batch of one: a poison record is then isolated (retried, then dead-lettered) and
the good records around it are applied.

Failures are sorted in two kinds:
- *transient* (database or broker unreachable): retried with backoff for as long as it takes, never sent to
  the DLQ — an outage must not turn good events into dead letters;
- *poison* (malformed record, unknown type, a handler that keeps raising): after ``max_retries`` attempts the
  record goes to ``<topic>.dlq`` with the error in its headers, and the consumer moves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import tracing
from shared.db import database_unavailable, sqlstate_of
from shared.events.envelope import CloudEvent, MalformedEvent, from_record
from shared.events.topics import dlq_topic
from shared.messaging.kafka import SEND_TIMEOUT_SECONDS
from shared.metrics import (
    CONSUMED_OUTCOMES,
    CONSUMER_LAG_RECORDS,
    CONSUMER_LAG_SECONDS,
    DEAD_LETTERS,
    EVENTS_CONSUMED,
)

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Sequence[CloudEvent]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One row of a service's handler table: events of `event_type` on `topic` go to `handler`.

    The handler applies a run of one or more consecutive new events of this type, in order, on the runner's
    session and inside its transaction (it never commits). A run must leave the same stored state as its events
    applied one by one; it may leave out effects that only describe events the same run supersedes (the
    indicators do not publish intermediate values; notifications do not notify a target's superseded statuses)
    — each service documents what it leaves out."""

    topic: str
    event_type: str
    handler: Handler


def one_by_one(apply: Callable[[AsyncSession, CloudEvent], Awaitable[None]]) -> Handler:
    """A handler for events that do not fold into each other: each applied in turn, traced to itself, each
    seeing the one before (autoflush is off)."""

    async def handler(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        for event in events:
            token = tracing.set_traceparent(tracing.child_of(event.traceparent))
            try:
                await apply(session, event)
            finally:
                tracing.reset_traceparent(token)
            await session.flush()

    return handler


class _Stopping(Exception):
    pass


RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock: retry, the event is fine


def is_transient(exc: BaseException) -> bool:
    """Errors that say "the infrastructure is unavailable" (or "try again"), not "this event is bad": among
    them a connection pool that stayed exhausted for its whole wait (the process is busy)."""
    return database_unavailable(exc) or isinstance(exc, PoolTimeout) or sqlstate_of(exc) in RETRYABLE_SQLSTATES


class _CommitOnRevoke(ConsumerRebalanceListener):
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Hand over cleanly: commit what we finished so the next owner starts right after it.
        await self.runner.commit_processed()
        self.runner.forget_lag(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        log.info(
            "partitions assigned", extra={"consumer": self.runner.name, "partitions": [str(tp) for tp in assigned]}
        )


class ConsumerRunner:
    def __init__(
        self,
        *,
        name: str,
        group_id: str,
        bootstrap_servers: str,
        subscriptions: Sequence[Subscription],
        sessionmaker: async_sessionmaker[AsyncSession],
        inbox: Table,
        producer: AIOKafkaProducer,
        max_retries: int = 3,
        retry_backoff: float = 0.2,
        max_records: int = 500,
        fetch_max_wait_ms: int = 50,
    ) -> None:
        self.name = name
        self.group_id = group_id
        self.bootstrap_servers = bootstrap_servers
        self.handlers = {(s.topic, s.event_type): s.handler for s in subscriptions}
        self.topics = sorted({s.topic for s in subscriptions})
        self.sessionmaker = sessionmaker
        self.inbox = inbox
        self.producer = producer
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_records = max_records
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self._consumer: AIOKafkaConsumer | None = None
        self._processed: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()
        # Every series exists from the start (at 0), so a dashboard or an alert on "any dead letter" sees the
        # first one as a change rather than as a series appearing.
        for outcome in CONSUMED_OUTCOMES:
            EVENTS_CONSUMED.labels(name, outcome)
        for topic in self.topics:
            DEAD_LETTERS.labels(name, topic)

    # -- lifecycle --------------------------------------------------------------------------------------

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            client_id=f"{self.name}",
            enable_auto_commit=False,  # offsets are committed only after the effect is committed
            auto_offset_reset="earliest",
            isolation_level="read_uncommitted",
            max_poll_interval_ms=300_000,
            # A replica that dies without leaving (SIGKILL, OOM) holds its partitions until this expires.
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            metadata_max_age_ms=5_000,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
        )
        self._consumer = consumer
        consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
        await self._start_with_retry(consumer)
        self.started.set()
        try:
            while not self._stopping.is_set():
                try:
                    batches = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
                except KafkaError:
                    log.warning("fetch failed; retrying", extra={"consumer": self.name}, exc_info=True)
                    await asyncio.sleep(1.0)
                    continue
                try:
                    if sum(len(records) for records in batches.values()) > 1:
                        await self._process_batch(batches)
                    else:
                        for tp, records in batches.items():
                            for record in records:
                                await self._process(record)
                                self._processed[tp] = record.offset + 1
                    await self.commit_processed()
                except _Stopping:
                    break
                await self._record_lag(consumer)
        finally:
            await self.commit_processed()
            await consumer.stop()  # leaves the group, so the partitions move to the others at once
            log.info("consumer stopped", extra={"consumer": self.name})

    async def _start_with_retry(self, consumer: AIOKafkaConsumer) -> None:
        delay = 0.5
        while True:
            try:
                await consumer.start()
                return
            except KafkaError:
                if self._stopping.is_set():
                    raise
                log.warning("cannot reach Kafka; retrying", extra={"consumer": self.name})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def stop(self) -> None:
        """Finish the record in hand, commit, leave the group."""
        self._stopping.set()

    async def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Records behind per assigned partition, from what the last fetches already told (no round trip): the
        partition's high watermark minus the consumer's position. A partition not fetched yet has no figure."""
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), timeout=0.1)
            except (KafkaError, TimeoutError):
                continue
            CONSUMER_LAG_RECORDS.labels(self.name, tp.topic, str(tp.partition)).set(max(0, highwater - position))

    def forget_lag(self, partitions: Sequence[TopicPartition]) -> None:
        """A partition handed to another member is that member's lag to report."""
        for tp in partitions:
            try:
                CONSUMER_LAG_RECORDS.remove(self.name, tp.topic, str(tp.partition))
            except KeyError:
                pass

    async def commit_processed(self) -> None:
        if not self._processed or self._consumer is None:
            return
        offsets, self._processed = self._processed, {}
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced under us; the new owner re-reads from the last committed offset and the
            # inbox turns the re-delivery into a no-op. Not a crash.
            log.info("offset commit refused after a rebalance", extra={"consumer": self.name})
        except KafkaError:
            log.warning(
                "offset commit failed; records will be re-delivered and de-duplicated",
                extra={"consumer": self.name},
                exc_info=True,
            )

    # -- a batch: one transaction for every record of a fetch ------------------------------------------------

    async def _process_batch(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        parsed = self._parse_all(batches)
        if parsed:
            outage_delay = 0.5
            while True:
                try:
                    applied = await self._apply_batch(parsed)
                except Exception as exc:
                    if is_transient(exc):
                        if self._stopping.is_set():
                            raise _Stopping() from exc
                        log.warning(
                            "infrastructure unavailable; retrying", extra={"consumer": self.name}, exc_info=True
                        )
                        await asyncio.sleep(outage_delay)
                        outage_delay = min(outage_delay * 2, 10.0)
                        continue
                    log.warning(
                        "batch failed; applying its records one per transaction",
                        extra={"consumer": self.name, "records": len(parsed)},
                        exc_info=True,
                    )
                    break
                now = datetime.now(UTC)
                EVENTS_CONSUMED.labels(self.name, "applied").inc(applied)
                EVENTS_CONSUMED.labels(self.name, "duplicate").inc(len(parsed) - applied)
                CONSUMER_LAG_SECONDS.labels(self.name).set(max(0.0, (now - parsed[-1][1].time).total_seconds()))
                for tp, records in batches.items():
                    if records:
                        self._processed[tp] = records[-1].offset + 1
                return
        # A malformed record, an unknown type or a failing handler in the batch: one record per transaction.
        for tp, records in batches.items():
            for record in records:
                await self._process(record)
                self._processed[tp] = record.offset + 1

    def _parse_all(
        self, batches: dict[TopicPartition, list[ConsumerRecord]]
    ) -> list[tuple[ConsumerRecord, CloudEvent]] | None:
        """Every record as a CloudEvent with a handler, or None when one is not (it is handled alone)."""
        parsed = []
        for records in batches.values():
            for record in records:
                try:
                    event = from_record(record.headers, record.value)
                except MalformedEvent:
                    return None
                if (record.topic, event.type) not in self.handlers:
                    return None
                parsed.append((record, event))
        return parsed

    async def _apply_batch(self, parsed: Sequence[tuple[ConsumerRecord, CloudEvent]]) -> int:
        """Inbox rows for all, then the handlers for the new events in order, in one transaction."""
        rows: dict[str, dict[str, object]] = {}
        for record, event in parsed:
            rows.setdefault(
                event.dedup_key,
                {
                    "consumer": self.name,
                    "event_key": event.dedup_key,
                    "event_type": event.type,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
        async with self.sessionmaker() as session, session.begin():
            # executemany form (one statement shape, compiled once and cached; SQLAlchemy still sends it as
            # multi-row INSERTs): a `.values([...])` list would be compiled again for every batch size.
            claimed = set(
                (
                    await session.execute(
                        insert(self.inbox).on_conflict_do_nothing().returning(self.inbox.c.event_key),
                        list(rows.values()),
                    )
                ).scalars()
            )
            fresh: list[tuple[str, CloudEvent]] = []
            for record, event in parsed:
                if event.dedup_key in claimed:
                    claimed.discard(event.dedup_key)  # a duplicate inside the batch is applied once
                    fresh.append((record.topic, event))
            start = 0
            while start < len(fresh):
                topic, event = fresh[start]
                key = (topic, event.type)
                end = start + 1
                while end < len(fresh) and (fresh[end][0], fresh[end][1].type) == key:
                    end += 1
                # The run's effects are traced to its first (oldest) event.
                token = tracing.set_traceparent(tracing.child_of(event.traceparent))
                try:
                    await self.handlers[key](session, [e for _, e in fresh[start:end]])
                finally:
                    tracing.reset_traceparent(token)
                await session.flush()  # the next handler's queries see this one's effects (autoflush is off)
                start = end
        return len(fresh)

    # -- one record -------------------------------------------------------------------------------------

    async def _process(self, record: ConsumerRecord) -> None:
        try:
            event = from_record(record.headers, record.value)
        except MalformedEvent as exc:
            await self._dead_letter(record, exc, attempts=1)
            return
        handler = self.handlers.get((record.topic, event.type))
        if handler is None:
            await self._dead_letter(record, LookupError(f"unknown event type {event.type!r}"), attempts=1)
            return
        token = tracing.set_traceparent(tracing.child_of(event.traceparent))
        try:
            await self._apply_with_retries(record, event, handler)
        finally:
            tracing.reset_traceparent(token)

    async def _apply_with_retries(self, record: ConsumerRecord, event: CloudEvent, handler: Handler) -> None:
        failures = 0
        outage_delay = 0.5
        while True:
            try:
                applied = await self._apply(record, event, handler)
                EVENTS_CONSUMED.labels(self.name, "applied" if applied else "duplicate").inc()
                CONSUMER_LAG_SECONDS.labels(self.name).set(max(0.0, (datetime.now(UTC) - event.time).total_seconds()))
                return
            except Exception as exc:
                if is_transient(exc):
                    if self._stopping.is_set():
                        raise _Stopping() from exc  # leave the offset uncommitted; it is re-read later
                    log.warning("infrastructure unavailable; retrying", extra={"consumer": self.name}, exc_info=True)
                    await asyncio.sleep(outage_delay)
                    outage_delay = min(outage_delay * 2, 10.0)
                    continue
                failures += 1
                log.warning(
                    "handler failed",
                    extra={"consumer": self.name, "attempt": failures, "event_id": event.id},
                    exc_info=True,
                )
                if failures > self.max_retries:
                    await self._dead_letter(record, exc, attempts=failures)
                    return
                await asyncio.sleep(self.retry_backoff * 2 ** (failures - 1))

    async def _apply(self, record: ConsumerRecord, event: CloudEvent, handler: Handler) -> bool:
        async with self.sessionmaker() as session, session.begin():
            claimed = await session.execute(
                insert(self.inbox)
                .values(
                    consumer=self.name,
                    event_key=event.dedup_key,
                    event_type=event.type,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                )
                .on_conflict_do_nothing()
                .returning(self.inbox.c.event_key)
            )
            if claimed.first() is None:
                return False  # already applied: a redelivery, a replay, or a relay's duplicate
            await handler(session, [event])
        return True

    async def _dead_letter(self, record: ConsumerRecord, error: BaseException, *, attempts: int) -> None:
        headers = list(record.headers or ()) + [
            ("dlq_consumer", self.name.encode()),
            ("dlq_error_type", type(error).__name__.encode()),
            ("dlq_error", str(error)[:2000].encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        delay = 0.5
        while True:
            try:
                async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                    await self.producer.send_and_wait(
                        dlq_topic(record.topic), value=record.value, key=record.key, headers=headers
                    )
                break
            except (KafkaError, TimeoutError):
                # The offset is not committed until the dead letter is safely stored.
                if self._stopping.is_set():
                    raise _Stopping() from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        EVENTS_CONSUMED.labels(self.name, "dead_lettered").inc()
        DEAD_LETTERS.labels(self.name, record.topic).inc()
        log.error(
            "event sent to DLQ",
            extra={"consumer": self.name, "topic": record.topic, "offset": record.offset, "error": str(error)[:500]},
        )
