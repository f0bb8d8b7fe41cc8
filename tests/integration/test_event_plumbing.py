"""The outbox, relay, inbox and consumer runner against real PostgreSQL and a real Kafka broker.

Each test gets its own schema, topic and consumer group. The effect under test is deliberately NOT
idempotent (a balance is incremented), so a double application would show in the numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings import kafka as ce_kafka
from sqlalchemy import BigInteger, Column, String, Table, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import asyncpg_dsn, make_sessionmaker, service_metadata
from shared.events.contracts import EventPayload
from shared.events.envelope import CloudEvent, encode_data, to_headers
from shared.events.topics import dlq_topic
from shared.infra.stack import Stack
from shared.messaging.consumer import ConsumerRunner, Subscription, one_by_one
from shared.messaging.kafka import create_producer, ensure_topics
from shared.messaging.outbox import Outbox
from shared.messaging.relay import OutboxRelay
from shared.messaging.tables import inbox_table, outbox_table
from tests.integration.kafka_helpers import eventually, header, read_topic

pytestmark = pytest.mark.integration

DEPOSIT_TYPE = "test.plumbing.deposit.v1"


def deposit_model(topic_name: str) -> type[EventPayload]:
    class Deposit(EventPayload):
        topic: ClassVar[str] = topic_name
        event_type: ClassVar[str] = DEPOSIT_TYPE
        summary: ClassVar[str] = "test deposit"

        account: str
        amount: int

        def key(self) -> str:
            return self.account

    return Deposit


@dataclass
class Plumbing:
    stack: Stack
    bootstrap: str
    schema: str
    topic: str
    outbox: Outbox
    inbox: Table
    ledger: Table
    sessionmaker: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    deposit: type[EventPayload]
    handling_delay: float = 0.0

    def relay(self, cls: type[OutboxRelay] = OutboxRelay, batch_size: int = 100) -> OutboxRelay:
        return cls(
            service="plumbing",
            table=self.outbox.table,
            sessionmaker=self.sessionmaker,
            producer=self.producer,
            listen_dsn=asyncpg_dsn(self.stack.database_url),
            batch_size=batch_size,
            poll_seconds=0.2,
        )

    def consumer(self, group: str, *, max_retries: int = 2, max_records: int = 500) -> ConsumerRunner:
        return ConsumerRunner(
            name="plumbing",
            group_id=group,
            bootstrap_servers=self.bootstrap,
            subscriptions=[Subscription(self.topic, DEPOSIT_TYPE, one_by_one(self.apply_deposit))],
            sessionmaker=self.sessionmaker,
            inbox=self.inbox,
            producer=self.producer,
            max_retries=max_retries,
            retry_backoff=0.01,
            max_records=max_records,
        )

    async def apply_deposit(self, session: AsyncSession, event: CloudEvent) -> None:
        amount = int(event.data["amount"])
        if self.handling_delay:
            await asyncio.sleep(self.handling_delay)  # so a hand-over happens with work still pending
        if amount < 0:
            raise ValueError("a deposit cannot be negative")
        stmt = insert(self.ledger).values(account=event.data["account"], balance=amount)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["account"], set_={"balance": self.ledger.c.balance + stmt.excluded.balance}
            )
        )

    async def deposit_with_outbox(self, account: str, amount: int) -> str:
        async with self.sessionmaker() as session, session.begin():
            return await self.outbox.add(session, self.deposit(account=account, amount=amount))

    async def balances(self) -> dict[str, int]:
        async with self.sessionmaker() as session:
            rows = await session.execute(select(self.ledger.c.account, self.ledger.c.balance))
            return {a: b for a, b in rows.all()}

    async def count(self, table: Table) -> int:
        async with self.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)

    async def unpublished(self) -> int:
        t = self.outbox.table
        async with self.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).where(t.c.published_at.is_(None))) or 0)


@contextlib.asynccontextmanager
async def plumbing_for(stack: Stack, engine: AsyncEngine, *, bootstrap: str | None = None) -> AsyncIterator[Plumbing]:
    """A schema with an outbox, an inbox and a ledger, and a topic of its own (on `bootstrap` if given)."""
    bootstrap = bootstrap or stack.bootstrap_servers
    suffix = uuid.uuid4().hex[:10]
    schema = f"plumbing_{suffix}"
    metadata = service_metadata(schema)
    outbox = outbox_table(metadata)
    inbox = inbox_table(metadata)
    ledger = Table(
        "ledger",
        metadata,
        Column("account", String(50), primary_key=True),
        Column("balance", BigInteger, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    topic = f"test.plumbing-{suffix}.v1"
    await ensure_topics(bootstrap, [topic], partitions=4)
    producer = create_producer(bootstrap, client_id="plumbing-test")
    await producer.start()
    p = Plumbing(
        stack=stack,
        bootstrap=bootstrap,
        schema=schema,
        topic=topic,
        outbox=Outbox(outbox, "plumbing"),
        inbox=inbox,
        ledger=ledger,
        sessionmaker=make_sessionmaker(engine),
        producer=producer,
        deposit=deposit_model(topic),
    )
    try:
        yield p
    finally:
        await p.producer.stop()
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
async def plumbing(stack: Stack, engine: AsyncEngine) -> AsyncIterator[Plumbing]:
    async with plumbing_for(stack, engine) as p:
        yield p


async def run_until(runner: ConsumerRunner, done: asyncio.Future[None] | None = None) -> asyncio.Task[None]:
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.started.wait(), 60)
    return task


async def stop(runner: ConsumerRunner, task: asyncio.Task[None]) -> None:
    runner.stop()
    await asyncio.wait_for(task, 60)


async def test_each_outbox_row_is_published_exactly_once_per_relay_pass(plumbing: Plumbing) -> None:
    event_ids = [await plumbing.deposit_with_outbox(f"acct-{i}", 10) for i in range(5)]
    relay = plumbing.relay(batch_size=2)  # several batches in one pass

    assert await relay.publish_pending() == 5
    assert await relay.publish_pending() == 0  # a second pass finds nothing left to send
    assert await plumbing.unpublished() == 0

    records = await read_topic(plumbing.stack.bootstrap_servers, plumbing.topic)
    assert sorted(header(r, "ce_id") or "" for r in records) == sorted(event_ids)
    # The record key is the aggregate id, and the headers are valid CloudEvents for the official SDK.
    for record in records:
        parsed = ce_kafka.from_binary_event(
            ce_kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
        )
        assert parsed.get_specversion() == "1.0"
        assert parsed.get_type() == DEPOSIT_TYPE
        assert parsed.get_source() == "/htx-monitor/plumbing"
        assert parsed.get_subject() == record.key.decode() == parsed.get_data()["account"]


async def test_retention_deletes_only_published_rows_past_it_oldest_first(plumbing: Plumbing) -> None:
    """The relay's retention pass (`OutboxRelay.prune`): rows published before the cutoff go, oldest first and
    at most `limit` per pass; a recent publication and an unpublished row stay, however old the latter."""
    ids = [await plumbing.deposit_with_outbox(f"acct-{i}", 1) for i in range(6)]
    relay = plumbing.relay()
    assert await relay.publish_pending() == 6
    table = plumbing.outbox.table
    now = datetime.now(UTC)
    async with plumbing.sessionmaker() as session, session.begin():
        ages = {ids[0]: 10, ids[1]: 9, ids[2]: 8, ids[3]: 1}  # days since publication; ids[4] just now
        for event_id, days in ages.items():
            await session.execute(
                update(table).where(table.c.event_id == event_id).values(published_at=now - timedelta(days=days))
            )
        await session.execute(update(table).where(table.c.event_id == ids[5]).values(published_at=None))
        await session.execute(  # an old, never published row
            update(table).where(table.c.event_id == ids[5]).values(occurred_at=now - timedelta(days=30))
        )

    async def remaining() -> list[str]:
        async with plumbing.sessionmaker() as session:
            return list((await session.scalars(select(table.c.event_id).order_by(table.c.id))).all())

    assert await relay.prune(timedelta(days=7), limit=2) == 2  # the two oldest
    assert await remaining() == ids[2:]
    assert await relay.prune(timedelta(days=7)) == 1
    assert await remaining() == ids[3:]
    assert await relay.prune(timedelta(days=7)) == 0
    assert await plumbing.unpublished() == 1


async def test_retention_leaves_the_table_to_another_replica_that_is_pruning(plumbing: Plumbing) -> None:
    """Two replicas pruning the same head at once could deadlock: a prune that finds the prune lock held (another
    replica mid-prune) deletes nothing; the next one, once the lock is free, does. Another replica's publishing
    pass does not hold a prune up (the two touch different rows)."""
    ids = [await plumbing.deposit_with_outbox(f"aged-{i}", 1) for i in range(3)]
    relay = plumbing.relay()
    assert await relay.publish_pending() == 3
    table = plumbing.outbox.table
    async with plumbing.sessionmaker() as session, session.begin():
        await session.execute(
            update(table).where(table.c.event_id.in_(ids)).values(published_at=datetime.now(UTC) - timedelta(days=10))
        )
    async with plumbing.sessionmaker() as other, other.begin():  # the other replica, mid-prune
        await other.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": relay._prune_lock_id})
        assert await relay.prune(timedelta(days=7)) == 0
    async with plumbing.sessionmaker() as other, other.begin():  # the other replica, mid-pass
        await other.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": relay._lock_id})
        assert await relay.prune(timedelta(days=7)) == 3
    async with plumbing.sessionmaker() as session:
        assert (await session.scalars(select(table.c.event_id).where(table.c.event_id.in_(ids)))).all() == []


async def test_a_pass_that_meets_another_replicas_pass_looks_again_soon(plumbing: Plumbing) -> None:
    """With several replicas one relay publishes at a time (an advisory lock). A relay whose pass finds another
    replica's under way looks again shortly instead of waiting for a wake or its poll: that replica's claim may
    have run before this row committed, and a row whose writer woke only its own relay sends no NOTIFY."""
    relay = plumbing.relay()
    relay.listen_dsn, relay.poll_seconds = None, 30  # no NOTIFY and a long poll: only the retry can publish

    async def contended() -> bool:
        return relay.contended

    async def published() -> bool:
        return await plumbing.unpublished() == 0

    task = asyncio.create_task(relay.run())
    try:
        async with plumbing.sessionmaker() as other, other.begin():  # the other replica, mid-pass
            await other.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": relay._lock_id})
            await plumbing.deposit_with_outbox("contended", 1)
            relay.wake()
            await eventually(contended, within=5, what="a pass to meet the other replica's")
            await asyncio.sleep(0.3)
            assert await plumbing.unpublished() == 1
        await eventually(published, within=5, what="the retry to publish once the other pass ended")
    finally:
        relay.stop()
        await task


async def test_a_rolled_back_change_publishes_nothing(plumbing: Plumbing) -> None:
    class Boom(Exception):
        pass

    async def change_that_fails() -> None:
        async with plumbing.sessionmaker() as session, session.begin():
            await plumbing.outbox.add(session, plumbing.deposit(account="a", amount=1))
            raise Boom()

    with pytest.raises(Boom):
        await change_that_fails()
    assert await plumbing.relay().publish_pending() == 0
    assert await read_topic(plumbing.stack.bootstrap_servers, plumbing.topic) == []


async def test_the_relay_wakes_on_notify_and_publishes_without_being_asked(plumbing: Plumbing) -> None:
    relay = plumbing.relay()
    relay.poll_seconds = 30  # so only NOTIFY can explain a prompt publication
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(1.0)  # let it LISTEN
        await plumbing.deposit_with_outbox("notify", 1)

        async def published() -> bool:
            return await plumbing.unpublished() == 0

        await eventually(published, within=10, what="the relay to publish after NOTIFY")
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)


async def test_a_steady_stream_of_commits_is_published_in_few_passes(plumbing: Plumbing) -> None:
    passes: list[int] = []

    class CountingRelay(OutboxRelay):
        async def _publish_batch(self) -> int:
            published = await super()._publish_batch()
            if published:
                passes.append(published)
            return published

    relay = plumbing.relay(CountingRelay)
    relay.poll_seconds, relay.min_interval_seconds = 30, 0.5
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(1.0)  # let it LISTEN
        began = time.perf_counter()
        for i in range(20):  # 20 commits, each with its NOTIFY, ~30 ms apart (the relay could keep up with each)
            await plumbing.deposit_with_outbox(f"stream-{i}", 1)
            await asyncio.sleep(0.03)
        streamed = time.perf_counter() - began

        async def published() -> bool:
            return await plumbing.unpublished() == 0

        await eventually(published, within=10, what="the relay to publish the stream")
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)
    # One pass per half second at most: the first commit goes at once, the rest in a few passes, not twenty
    # (without the interval: one pass per commit). Counted against how long the commits took, so a slow
    # machine does not fail it.
    assert sum(passes) == 20 and len(passes) <= 2 + streamed / 0.5, (passes, streamed)


async def test_an_event_delivered_three_times_is_applied_once(plumbing: Plumbing) -> None:
    await plumbing.deposit_with_outbox("acct-1", 250)
    await plumbing.relay().publish_pending()
    [original] = await read_topic(plumbing.stack.bootstrap_servers, plumbing.topic)
    for _ in range(2):  # the same record (same ce_source + ce_id) twice more
        await plumbing.producer.send_and_wait(
            plumbing.topic, value=original.value, key=original.key, headers=list(original.headers)
        )

    runner = plumbing.consumer(f"g-{uuid.uuid4().hex[:8]}")
    task = await run_until(runner)
    try:

        async def all_three_seen() -> bool:
            return await plumbing.count(plumbing.inbox) == 1 and await _committed(plumbing, runner) == 3

        await eventually(all_three_seen, what="three deliveries to be consumed and committed")
    finally:
        await stop(runner, task)
    assert await plumbing.balances() == {"acct-1": 250}
    assert await plumbing.count(plumbing.inbox) == 1


async def _committed(plumbing: Plumbing, runner: ConsumerRunner) -> int:
    """Total committed offset of the runner's group over the topic's partitions."""
    consumer = runner._consumer
    assert consumer is not None
    total = 0
    for tp in consumer.assignment():
        total += await consumer.committed(tp) or 0
    return total


async def test_a_relay_killed_after_sending_duplicates_the_record_but_not_the_effect(plumbing: Plumbing) -> None:
    class CrashBeforeMarkingSent(OutboxRelay):
        async def _mark_sent(self, session: AsyncSession, ids: list[int]) -> None:
            raise SystemExit("relay killed between the broker's ack and the UPDATE")

    await plumbing.deposit_with_outbox("acct-9", 40)
    with pytest.raises(SystemExit):
        await plumbing.relay(CrashBeforeMarkingSent).publish_pending()
    assert await plumbing.unpublished() == 1  # the crash rolled back the mark, so the row is still pending
    assert await plumbing.relay().publish_pending() == 1

    records = await read_topic(plumbing.stack.bootstrap_servers, plumbing.topic)
    assert len(records) == 2
    assert header(records[0], "ce_id") == header(records[1], "ce_id")

    runner = plumbing.consumer(f"g-{uuid.uuid4().hex[:8]}")
    task = await run_until(runner)
    try:

        async def both_consumed() -> bool:
            return await _committed(plumbing, runner) == 2

        await eventually(both_consumed, what="both copies to be consumed")
    finally:
        await stop(runner, task)
    assert await plumbing.balances() == {"acct-9": 40}
    assert await plumbing.count(plumbing.inbox) == 1


async def test_poison_messages_go_to_the_dlq_and_the_consumer_carries_on(plumbing: Plumbing) -> None:
    bootstrap = plumbing.stack.bootstrap_servers
    await ensure_topics(bootstrap, [plumbing.topic])  # also creates <topic>.dlq
    send = plumbing.producer.send_and_wait
    key = b"acct-p"
    # 1. not a CloudEvent at all
    await send(plumbing.topic, value=b"\xff\xfe not json", key=key, headers=[])
    # 2. a valid CloudEvent of a type nobody handles
    unknown = CloudEvent(type="test.plumbing.unknown.v1", source="/htx-monitor/test", data={"x": 1})
    await send(plumbing.topic, value=encode_data(unknown.data), key=key, headers=to_headers(unknown))
    # 3. a known type whose handler keeps failing
    bad = CloudEvent(type=DEPOSIT_TYPE, source="/htx-monitor/test", data={"account": "acct-p", "amount": -5})
    await send(plumbing.topic, value=encode_data(bad.data), key=key, headers=to_headers(bad))
    # 4. a good one after them
    good = CloudEvent(type=DEPOSIT_TYPE, source="/htx-monitor/test", data={"account": "acct-p", "amount": 7})
    await send(plumbing.topic, value=encode_data(good.data), key=key, headers=to_headers(good))

    runner = plumbing.consumer(f"g-{uuid.uuid4().hex[:8]}", max_retries=2)
    task = await run_until(runner)
    try:

        async def good_applied() -> bool:
            return (await plumbing.balances()).get("acct-p") == 7

        await eventually(good_applied, what="the good event after the poison ones")
    finally:
        await stop(runner, task)

    dead = await read_topic(bootstrap, dlq_topic(plumbing.topic))
    assert len(dead) == 3
    by_type = {header(r, "dlq_error_type"): r for r in dead}
    assert set(by_type) == {"MalformedEvent", "LookupError", "ValueError"}
    assert "unknown event type" in (header(by_type["LookupError"], "dlq_error") or "")
    assert header(by_type["ValueError"], "dlq_attempts") == "3"  # first try + 2 retries
    assert header(by_type["MalformedEvent"], "dlq_original_topic") == plumbing.topic
    assert by_type["MalformedEvent"].value == b"\xff\xfe not json"  # the original bytes, for inspection
    assert await plumbing.count(plumbing.inbox) == 1


async def test_two_consumers_split_partitions_and_hand_over_without_loss_or_double_apply(plumbing: Plumbing) -> None:
    accounts = [f"acct-{i:02d}" for i in range(24)]
    expected: dict[str, int] = {}
    for round_ in range(10):
        for i, account in enumerate(accounts):
            amount = i + round_ + 1
            await plumbing.deposit_with_outbox(account, amount)
            expected[account] = expected.get(account, 0) + amount
    assert await plumbing.relay(batch_size=500).publish_pending() == 240

    plumbing.handling_delay = 0.02
    group = f"g-{uuid.uuid4().hex[:8]}"
    # Small fetches, so the first consumer cannot take the whole topic in one transaction before the hand-over.
    first, second = plumbing.consumer(group, max_records=20), plumbing.consumer(group, max_records=20)
    first_task = await run_until(first)
    second_task = await run_until(second)
    try:

        async def split() -> bool:
            a = first._consumer.assignment() if first._consumer else set()
            b = second._consumer.assignment() if second._consumer else set()
            return bool(a) and bool(b) and not (a & b) and len(a | b) == 4

        await eventually(split, what="the two consumers to share the four partitions")
        await stop(first, first_task)  # hand over mid-run
        assert await plumbing.count(plumbing.inbox) < 240, "the hand-over should happen with work left"

        async def second_owns_all() -> bool:
            return second._consumer is not None and len(second._consumer.assignment()) == 4

        await eventually(second_owns_all, what="the remaining consumer to take over every partition")

        async def all_applied() -> bool:
            return await plumbing.count(plumbing.inbox) == 240

        await eventually(all_applied, what="every event to be applied after the hand-over")
    finally:
        if not second_task.done():
            await stop(second, second_task)
        if not first_task.done():
            await stop(first, first_task)
    assert await plumbing.balances() == expected


async def test_the_running_relay_applies_its_retention(plumbing: Plumbing) -> None:
    event_id = await plumbing.deposit_with_outbox("old", 1)
    relay = plumbing.relay()
    assert await relay.publish_pending() == 1
    table = plumbing.outbox.table
    async with plumbing.sessionmaker() as session, session.begin():
        old = datetime.now(UTC) - timedelta(days=8)
        await session.execute(update(table).where(table.c.event_id == event_id).values(published_at=old))
    relay.retention = timedelta(days=7)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _gone(plumbing), within=10, what="the relay's first pass to prune")
    finally:
        relay.stop()
        await task


async def _gone(plumbing: Plumbing) -> bool:
    return await plumbing.count(plumbing.outbox.table) == 0
