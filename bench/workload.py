"""What the scenarios send: status reports and the events the consumers read, built from the real contracts."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.events import contracts
from shared.events.contracts import EventPayload, payload_json
from shared.events.envelope import SOURCE_PREFIX, CloudEvent, Headers, encode_data, to_headers

DISTRICTS = ["916", "917", "918", "919", "923", "924", "925", "926", "927"]
T = TypeVar("T")
PLAN = "219-KH-UBND"
PERIOD = "2026-H2"
AS_OF = "2026-07-01"


def status_body(
    rng: random.Random, *, is_model: bool = False, period: str = PERIOD, as_of: str = AS_OF
) -> dict[str, Any]:
    """A valid POST /status-reports body; revenue varies so every report changes some indicator value."""
    managers = rng.randint(3, 9)
    return {
        "as_of": as_of,
        "period": period,
        "members_official": rng.randint(7, 120),
        "members_associate": rng.randint(0, 40),
        "charter_capital_vnd": rng.randint(1, 50) * 100_000_000,
        "revenue_vnd": rng.randint(500, 90_000) * 1_000_000,
        "farmland_ha": f"{rng.randint(500, 50_000) / 100:.2f}",
        "production_value_vnd": rng.randint(1_000, 200_000) * 1_000_000,
        "classification": rng.choice(["good", "fair", "average", "weak"]),
        "is_model": is_model,
        "enterprise_linked": rng.random() < 0.4,
        "enterprise_partners": [],
        "high_tech_or_gap": rng.random() < 0.3,
        "certifications": [],
        "ecommerce": rng.random() < 0.5,
        "ecommerce_platforms": [],
        "ocop_products": rng.randint(0, 3),
        "managers_total": managers,
        "managers_trained": rng.randint(0, managers),
        "managers_female": rng.randint(0, managers),
        "managers_under_35": rng.randint(0, managers),
    }


def cooperative_status_event(
    rng: random.Random, cooperative_id: uuid.UUID, version: int, unit: str, *, is_model: bool = False
) -> contracts.CooperativeStatusV1:
    body = status_body(rng, is_model=is_model)
    status = contracts.StatusSnapshot(
        report_id=uuid.uuid4(),
        **{**body, "as_of": date.fromisoformat(body["as_of"]), "farmland_ha": Decimal(body["farmland_ha"])},
    )
    return contracts.CooperativeStatusV1(
        cooperative_id=cooperative_id,
        version=version,
        registration_code=f"18{cooperative_id.int % 10**8:08d}",
        name=f"Hợp tác xã Nông nghiệp Bench {cooperative_id.hex[:6]}",
        unit_code=unit,
        sector=contracts.Sector.cultivation,
        legal_status=contracts.LegalStatus.active,
        established_on=date(2015, 3, 12),
        status=status,
        changed_at=datetime.now(UTC),
    )


def target_status_event(target_code: str, unit: str, version: int, new_status: str) -> contracts.TargetStatusV1:
    old = "achieved" if new_status != "achieved" else "missed"
    return contracts.TargetStatusV1(
        plan_code=PLAN,
        target_id=f"{PLAN}:{target_code}",
        target_code=target_code,
        unit_code=unit,
        old_status=old,
        new_status=new_status,
        explanation=f"Bench: {new_status}",
        baseline=None,
        current=Decimal(1 if new_status == "achieved" else 0),
        target=Decimal(1),
        projection=None,
        deadline=date(2025, 12, 31),
        lead_agency=f"UBND-{unit}",
        coordinating_agencies=["SNN"],
        version=version,
        changed_at=datetime.now(UTC),
    )


def record_of(payload: EventPayload, service: str, topic_prefix: str = "") -> tuple[str, bytes, bytes, Headers]:
    """Exactly what the outbox relay would publish for `payload` (CloudEvents binary mode)."""
    event = CloudEvent(
        type=payload.event_type,
        source=SOURCE_PREFIX + service,
        data={},
        subject=payload.key(),
        traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
    )
    return topic_prefix + payload.topic, encode_data(payload_json(payload)), payload.key().encode(), to_headers(event)


async def produce_all(bootstrap: str, records: Iterable[tuple[str, bytes, bytes, Headers]]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers) for topic, value, key, headers in records
        ]
        await producer.flush()
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics`, from fresh cluster metadata (the consumer's own is empty until it subscribes)."""
    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or [])]


class KafkaProbe:
    """One consumer (metadata, end offsets) and one admin client (group offsets), started once and reused by
    every lag check of the run. Opening fresh clients several times a second exhausted the broker's connection
    handling under load (`Unable to bootstrap`); a failed call now closes the clients, reconnects and retries with
    backoff for at most `wait` seconds, then raises."""

    def __init__(self, bootstrap: str, *, wait: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.wait = wait
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._partitions: dict[tuple[str, ...], list[TopicPartition]] = {}
        self._lock = asyncio.Lock()

    async def _connect(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
            await consumer.start()
            self._consumer = consumer
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            self._admin = admin
        return self._consumer, self._admin

    async def close(self) -> None:
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        for closing in (consumer.stop() if consumer else None, admin.close() if admin else None):
            if closing is not None:
                try:
                    await closing
                except Exception:  # noqa: BLE001 - closing a broken client must not hide the real error
                    pass

    async def _retrying(self, call: Callable[[AIOKafkaConsumer, AIOKafkaAdminClient], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.wait
        delay = 0.2
        async with self._lock:
            while True:
                try:
                    consumer, admin = await self._connect()
                    return await call(consumer, admin)
                except (TimeoutError, KafkaError, OSError):
                    await self.close()
                    if time.monotonic() + delay > deadline:
                        raise
                    await asyncio.sleep(delay)
                    delay = min(2 * delay, 2.0)

    async def end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        async def call(consumer: AIOKafkaConsumer, _: AIOKafkaAdminClient) -> dict[TopicPartition, int]:
            key = tuple(topics)
            if key not in self._partitions:
                partitions = await partitions_of(consumer, topics)
                if not partitions:
                    raise RuntimeError(f"no partitions found for {topics}")
                self._partitions[key] = partitions
            result: dict[TopicPartition, int] = await consumer.end_offsets(self._partitions[key])
            return result

        return await self._retrying(call)

    async def group_offsets(self, group: str) -> dict[TopicPartition, int]:
        async def call(_: AIOKafkaConsumer, admin: AIOKafkaAdminClient) -> dict[TopicPartition, int]:
            offsets = await admin.list_consumer_group_offsets(group)
            return {tp: meta.offset for tp, meta in offsets.items() if meta is not None and meta.offset >= 0}

        return await self._retrying(call)

    async def lag(self, group: str, topics: list[str]) -> int:
        ends = await self.end_offsets(topics)
        committed = await self.group_offsets(group)
        return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())

    async def committed_since(self, group: str, before: dict[TopicPartition, int]) -> int:
        """How many records of `before`'s partitions `group` has committed past `before`."""
        committed = await self.group_offsets(group)
        return sum(max(0, committed.get(tp, 0) - start) for tp, start in before.items())


async def wait_caught_up(
    probe: KafkaProbe, group: str, targets: dict[TopicPartition, int], timeout: float, poll: float = 0.1
) -> float | None:
    """Seconds until `group` has committed at least `targets` on every partition; None on timeout."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        committed = await probe.group_offsets(group)
        if all(committed.get(tp, -1) >= end for tp, end in targets.items()):
            return time.perf_counter() - start
        await asyncio.sleep(poll)
    return None
