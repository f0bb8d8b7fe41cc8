"""Kafka clients configured the same way everywhere."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.events.topics import dlq_topic

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 15.0


def create_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    # acks=all for durability. Idempotence and transactions are deliberately off: correctness comes from the
    # outbox + inbox pair, which also holds on brokers that lack those features (DESIGN.md §3).
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        request_timeout_ms=10_000,
        retry_backoff_ms=200,
        metadata_max_age_ms=30_000,
    )


async def ensure_topics(
    bootstrap_servers: str, topics: list[str], *, partitions: int = 3, with_dlq: bool = True
) -> None:
    """Create the topics a service uses (and their DLQs) if missing; existing topics are left as they are."""
    wanted = list(dict.fromkeys([*topics, *([dlq_topic(t) for t in topics] if with_dlq else [])]))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in missing]
            )
        except TopicAlreadyExistsError:
            pass  # another service created it between our list and create
        log.info("created topics", extra={"topics": missing})
        await _wait_for_leaders(admin, missing)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], within: float = 15.0) -> None:
    """A new topic's partitions get their leaders a moment after CreateTopics returns; producing or fetching
    before that only yields "unknown topic" / "not leader" errors in the logs, so wait for them (bounded)."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        try:
            described = await admin.describe_topics(names)
        except KafkaError:
            described = []
        ready = [
            d
            for d in described
            if not d.get("error_code") and d.get("partitions") and all(p["leader"] >= 0 for p in d["partitions"])
        ]
        if len(ready) == len(names):
            return
        await asyncio.sleep(0.2)
    log.warning("new topics still without leaders; continuing", extra={"topics": names})


async def kafka_reachable(producer: AIOKafkaProducer, wait_seconds: float = 2.0) -> bool:
    """A real metadata round trip, so `/readyz` turns false while the broker is down."""
    try:
        async with asyncio.timeout(wait_seconds):
            return bool(await producer.client.fetch_all_metadata())
    except (KafkaError, TimeoutError, OSError):
        return False
