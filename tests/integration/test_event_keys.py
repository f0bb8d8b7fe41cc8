"""Every topic the system writes, read by a consumer the project did not write: per record key, `version` only
goes up, and a version seen twice carries the same payload (a relay's re-publication, nothing else).

A key coarser than the identity its version counts (an indicator's value without its period, a target's status
without its unit) shows here as a version that repeats with another payload or goes down — what a consumer
keeping "latest version per key", or a compacted topic, would lose.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI

from services.indicators.app import create_app as indicators_app
from services.notifications.app import create_app as notifications_app
from services.registry.app import create_app as registry_app
from shared.clock import FixedClock
from shared.events.contracts import BY_TYPE
from tests.integration.apps import running
from tests.integration.kafka_helpers import eventually, header
from tests.integration.registry_support import auth, cooperative_body, status_body

pytestmark = pytest.mark.integration

SCHEMAS = ("registry", "indicators", "notifications")
NOW = datetime(2025, 7, 15, 3, 0, tzinfo=UTC)  # mid-2025: the plan's deadline (31/12/2025) is ahead


async def quiet(database_url: str) -> bool:
    """No outbox row waits in any service: everything the flow wrote is on Kafka."""
    conn = await asyncpg.connect(database_url)
    try:
        waiting = [
            await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
            for schema in SCHEMAS
        ]
    finally:
        await conn.close()
    return sum(waiting) == 0


async def read_everything(bootstrap: str, prefix: str) -> list[ConsumerRecord]:
    """All records of every topic under `prefix`, as a foreign consumer (its own group) reads them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"foreign-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    consumer.subscribe(pattern=f"^{re.escape(prefix)}.*")
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        async with asyncio.timeout(60):
            while {tp.topic for tp in consumer.assignment()} != set(names):
                await consumer.getmany(timeout_ms=200)  # until the group has given us every partition
            assigned = sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition))
            end: dict[TopicPartition, int] = await consumer.end_offsets(assigned)
            await consumer.seek_to_beginning(*assigned)
            while [tp for tp in assigned if await consumer.position(tp) < end[tp]]:
                for recs in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(recs)
    finally:
        await consumer.stop()
    return records


def version_faults(records: list[ConsumerRecord]) -> list[str]:
    """Per (topic, key), in partition order: versions that go down, or repeat with another payload."""
    by_key: dict[tuple[str, bytes], list[ConsumerRecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        by_key[(record.topic, record.key or b"")].append(record)
    faults = []
    for (topic, key), recs in by_key.items():
        assert len({r.partition for r in recs}) == 1, f"{topic} {key!r} on several partitions"
        last: tuple[int, dict[str, Any]] | None = None
        for record in recs:
            data = json.loads(record.value)
            if "version" not in data:
                continue  # an event without a version (a report submission) is its own fact
            if last is not None:
                version, payload = last
                if data["version"] < version:
                    faults.append(f"{topic} {key!r}: version {version} then {data['version']}")
                elif data["version"] == version and data != payload:
                    faults.append(f"{topic} {key!r}: version {version} twice with different payloads")
            last = (data["version"], data)
    return faults


async def test_every_topic_keeps_per_key_versions_in_order(isolated_env: dict[str, str]) -> None:
    prefix, bootstrap = isolated_env["HTX_TOPIC_PREFIX"], isolated_env["KAFKA_BOOTSTRAP_SERVERS"]
    clock = FixedClock(NOW)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REGISTRY_SEED_DEMO", "false")
        registry: FastAPI = registry_app(clock=clock)
    async with (
        running(registry) as reg,
        running(indicators_app(clock=clock)),
        running(notifications_app(clock=clock)),
    ):
        # Several units and periods, and a correction: one indicator gets a value per unit and period, one
        # target a status per unit, and some of them change.
        for unit in ("918", "926"):
            created = await reg.post("/v1/cooperatives", json=cooperative_body(unit_code=unit), headers=auth())
            assert created.status_code == 201, created.text
            url = f"/v1/cooperatives/{created.json()['id']}/status-reports"
            for period, as_of, is_model in (
                ("2023", "2023-12-31", False),
                ("2024", "2024-12-31", False),
                ("2025-H1", "2025-06-30", False),
                ("2025-H1", "2025-06-30", True),
            ):
                body = status_body(period=period, as_of=as_of, is_model=is_model)
                response = await reg.post(url, json=body, headers=auth())
                assert response.status_code == 201, response.text
                await asyncio.sleep(0.3)  # let the indicators see each report as its own change

        async def settled() -> bool:
            return await quiet(isolated_env["DATABASE_URL"])

        await eventually(settled, within=60, what="every outbox to be published")
        await asyncio.sleep(2.0)  # the consumers' own outputs (values, statuses, alerts) reach the outboxes
        await eventually(settled, within=60, what="every outbox to be published")

    records = await read_everything(bootstrap, prefix)
    by_topic: dict[str, int] = defaultdict(int)
    for record in records:
        by_topic[record.topic.removeprefix(prefix)] += 1
    for wanted in ("indicators.indicator-values.v1", "indicators.target-status.v1", "registry.cooperative-status.v1"):
        assert by_topic[wanted] > 0, f"the flow wrote nothing on {wanted}: {dict(by_topic)}"

    # The key is what the contract says it is, for every record.
    for record in records:
        data = json.loads(record.value)
        contract = BY_TYPE[header(record, "ce_type") or ""]
        assert (record.key or b"").decode() == contract.model_validate(data).key(), record.topic

    faults = version_faults(records)
    assert not faults, f"{len(faults)} fault(s), e.g.:\n" + "\n".join(faults[:10])
