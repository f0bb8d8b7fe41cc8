"""The consumer applies a fetched batch in one transaction, and falls back to one record per transaction.

Records are produced before the consumer starts, on one key (one partition), so its first fetch returns them
together. The ledger effect is not idempotent, so a double application would show in the balances.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.events.envelope import CloudEvent, encode_data, to_headers
from shared.events.topics import dlq_topic
from shared.infra.stack import Stack
from shared.messaging.consumer import ConsumerRunner, Subscription, one_by_one
from shared.messaging.kafka import ensure_topics
from tests.integration.kafka_helpers import eventually, header, read_topic
from tests.integration.test_event_plumbing import DEPOSIT_TYPE, Plumbing, plumbing_for, run_until, stop

pytestmark = pytest.mark.integration


@pytest.fixture
async def plumbing(stack: Stack, engine: AsyncEngine) -> AsyncIterator[Plumbing]:
    async with plumbing_for(stack, engine) as p:
        await ensure_topics(stack.bootstrap_servers, [p.topic])  # also creates <topic>.dlq
        yield p


def deposit(account: str, amount: int) -> CloudEvent:
    return CloudEvent(type=DEPOSIT_TYPE, source="/htx-monitor/test", data={"account": account, "amount": amount})


async def produce(plumbing: Plumbing, events: Sequence[CloudEvent], key: bytes = b"one-partition") -> None:
    for event in events:
        await plumbing.producer.send_and_wait(
            plumbing.topic, value=encode_data(event.data), key=key, headers=to_headers(event)
        )


class BatchLedger:
    """A handler with the same effect as `apply_deposit` on each event, in one statement per run."""

    def __init__(self, plumbing: Plumbing) -> None:
        self.plumbing = plumbing
        self.run_sizes: list[int] = []

    async def __call__(self, session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        self.run_sizes.append(len(events))
        totals: dict[str, int] = {}
        for event in events:
            amount = int(event.data["amount"])
            if amount < 0:
                raise ValueError("a deposit cannot be negative")
            totals[event.data["account"]] = totals.get(event.data["account"], 0) + amount
        ledger = self.plumbing.ledger
        stmt = insert(ledger).values([{"account": a, "balance": b} for a, b in totals.items()])
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["account"], set_={"balance": ledger.c.balance + stmt.excluded.balance}
            )
        )


def runner(plumbing: Plumbing, batch: BatchLedger | None = None) -> ConsumerRunner:
    return ConsumerRunner(
        name="plumbing",
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        bootstrap_servers=plumbing.bootstrap,
        subscriptions=[Subscription(plumbing.topic, DEPOSIT_TYPE, batch or one_by_one(plumbing.apply_deposit))],
        sessionmaker=plumbing.sessionmaker,
        inbox=plumbing.inbox,
        producer=plumbing.producer,
        max_retries=2,
        retry_backoff=0.01,
    )


async def test_a_fetch_is_applied_once_through_the_handler_in_runs_with_duplicates_dropped(plumbing: Plumbing) -> None:
    events = [deposit(f"acct-{i % 3}", i + 1) for i in range(30)]
    await produce(plumbing, [*events, events[4], events[7]])  # two redeliveries inside the same fetch
    batch = BatchLedger(plumbing)
    consumer = runner(plumbing, batch)
    task = await run_until(consumer)
    try:

        async def all_applied() -> bool:
            return await plumbing.count(plumbing.inbox) == 30

        await eventually(all_applied, what="the 30 distinct events")
    finally:
        await stop(consumer, task)
    expected: dict[str, int] = {}
    for i in range(30):
        expected[f"acct-{i % 3}"] = expected.get(f"acct-{i % 3}", 0) + i + 1
    assert await plumbing.balances() == expected
    assert max(batch.run_sizes) > 1  # the records really went through the handler together


async def test_a_poison_record_in_a_batch_is_isolated_and_the_good_ones_are_applied_once(plumbing: Plumbing) -> None:
    good_before = [deposit("acct-a", 5) for _ in range(4)]
    poison = deposit("acct-a", -1)
    good_after = [deposit("acct-b", 3) for _ in range(4)]
    await produce(plumbing, [*good_before, poison, *good_after])
    batch = BatchLedger(plumbing)
    consumer = runner(plumbing, batch)
    task = await run_until(consumer)
    try:

        async def good_applied() -> bool:
            return await plumbing.balances() == {"acct-a": 20, "acct-b": 12}

        await eventually(good_applied, what="the good records around the poison one")
    finally:
        await stop(consumer, task)
    dead = await read_topic(plumbing.bootstrap, dlq_topic(plumbing.topic))
    assert len(dead) == 1
    assert header(dead[0], "ce_id") == poison.id
    assert header(dead[0], "dlq_error_type") == "ValueError"
    assert header(dead[0], "dlq_attempts") == "3"  # the record alone: first try + 2 retries
    assert await plumbing.count(plumbing.inbox) == 8  # the rolled-back batch left no inbox row behind


async def test_events_applied_one_by_one_run_in_order_in_one_transaction(plumbing: Plumbing) -> None:
    malformed_free = [deposit("acct-c", i) for i in range(1, 11)]
    await produce(plumbing, malformed_free)
    consumer = runner(plumbing)
    task = await run_until(consumer)
    try:

        async def applied() -> bool:
            return (await plumbing.balances()).get("acct-c") == 55

        await eventually(applied, what="ten deposits")
    finally:
        await stop(consumer, task)
    assert await plumbing.count(plumbing.inbox) == 10
