"""Topics are laid out as the settings say (partitions, replication factor, min.insync.replicas), and by the
broker's own defaults when the settings are unset — never a replication factor fixed in the code."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from services.registry.app import create_app as registry_app
from shared.events import topics
from shared.infra.stack import Stack
from shared.messaging.kafka import TopicLayout, ensure_topics
from tests.integration.apps import running

pytestmark = pytest.mark.integration

TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a value set on the topic itself


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap_servers)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def layout_of(admin: AIOKafkaAdminClient, topic: str) -> tuple[int, set[int], dict[str, Any]]:
    """(partitions, replication factors, the topic's config entries: name, value, read-only, source, …)."""
    [described] = await admin.describe_topics([topic])
    partitions = described["partitions"]
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    [(_, _, _, _, entries)] = response.resources
    configs = {entry[0]: entry for entry in entries}
    return len(partitions), {len(p["replicas"]) for p in partitions}, configs


async def broker_defaults(admin: AIOKafkaAdminClient) -> dict[str, str]:
    node = admin._client.cluster.brokers().pop().nodeId  # a single-broker harness
    wanted = {"num.partitions": None, "default.replication.factor": None, "min.insync.replicas": None}
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, str(node), wanted)])
    [(_, _, _, _, entries)] = response.resources
    return {entry[0]: entry[1] for entry in entries}


async def test_unset_settings_leave_the_layout_to_the_broker(stack: Stack, admin: AIOKafkaAdminClient) -> None:
    topic = f"test.layout-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(stack.bootstrap_servers, [topic], layout=TopicLayout(), with_dlq=False)

    defaults = await broker_defaults(admin)
    partitions, replication, configs = await layout_of(admin, topic)
    assert partitions == int(defaults["num.partitions"])
    assert replication == {int(defaults["default.replication.factor"])}
    assert configs["min.insync.replicas"][1] == defaults["min.insync.replicas"]
    assert configs["min.insync.replicas"][3] != TOPIC_CONFIG  # no override on the topic: the broker's value


async def test_the_settings_lay_out_every_topic_a_service_creates(
    isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, admin: AIOKafkaAdminClient
) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "2")
    monkeypatch.setenv("KAFKA_TOPIC_REPLICATION_FACTOR", "1")
    monkeypatch.setenv("KAFKA_TOPIC_MIN_INSYNC_REPLICAS", "1")
    monkeypatch.setenv("REGISTRY_SEED_DEMO", "false")
    async with running(registry_app()):
        pass
    prefix = isolated_env["HTX_TOPIC_PREFIX"]
    for name in (topics.COOPERATIVE_STATUS, topics.COOPERATIVE_STATUS + ".dlq", topics.AGENCIES):
        partitions, replication, configs = await layout_of(admin, prefix + name)
        assert (partitions, replication) == (2, {1}), name
        assert configs["min.insync.replicas"][1:4:2] == ("1", TOPIC_CONFIG), name  # set on the topic itself


async def test_a_layout_the_cluster_cannot_honour_stops_the_start_up(stack: Stack) -> None:
    topic = f"test.layout-{uuid.uuid4().hex[:8]}.v1"
    with pytest.raises(KafkaError, match="topic creation refused"):
        await ensure_topics(stack.bootstrap_servers, [topic], layout=TopicLayout(replication_factor=3), with_dlq=False)
