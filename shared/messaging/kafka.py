"""Kafka clients configured the same way everywhere."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class TopicLayout:
    """How new topics are created; None leaves the choice to the broker (`num.partitions`,
    `default.replication.factor`, `min.insync.replicas`), which Kafka ≥ 2.4 accepts as -1 (KIP-464)."""

    partitions: int | None = None
    replication_factor: int | None = None
    min_insync_replicas: int | None = None

    def new_topic(self, name: str) -> NewTopic:
        configs = {} if self.min_insync_replicas is None else {"min.insync.replicas": str(self.min_insync_replicas)}
        partitions = BROKER_DEFAULT if self.partitions is None else self.partitions
        replication = BROKER_DEFAULT if self.replication_factor is None else self.replication_factor
        # NewTopic takes an (empty) assignment whenever a count is left to the broker.
        assignments: dict[int, list[int]] | None = {} if BROKER_DEFAULT in (partitions, replication) else None
        return NewTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=replication,
            replica_assignments=assignments,
            topic_configs=configs,
        )


BROKER_DEFAULT = -1
_TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(
    bootstrap_servers: str,
    topics: list[str],
    *,
    layout: TopicLayout | None = None,
    partitions: int | None = None,
    with_dlq: bool = True,
) -> None:
    """Create the topics a service uses (and their DLQs) if missing; existing topics are left as they are.
    `partitions` overrides the layout's count (tests and benches that need a given number)."""
    wanted = list(dict.fromkeys([*topics, *([dlq_topic(t) for t in topics] if with_dlq else [])]))
    layout = layout or TopicLayout()
    if partitions is not None:
        layout = replace(layout, partitions=partitions)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return
        try:
            response = await admin.create_topics([layout.new_topic(t) for t in missing])
        except TopicAlreadyExistsError:
            response = None  # another service created it between our list and create
        refused = [
            (topic, code, message)
            for topic, code, message in (response.topic_errors if response is not None else ())
            if code not in (0, _TOPIC_ALREADY_EXISTS)
        ]
        if refused:
            # A layout the cluster cannot honour (replication factor above the broker count, …) must stop the
            # start-up: the service would otherwise run on topics that do not exist.
            raise KafkaError(f"topic creation refused: {refused}")
        log.info("created topics", extra={"topics": missing, "layout": str(layout)})
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
