"""When a Kafka broker counts as ready: a real aiokafka metadata request lists it -- and, when asked, the group
coordinator has loaded every ``__consumer_offsets`` partition (see :func:`_group_offsets_not_loaded`), so
consumers started right after a restart see the offsets committed before it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

_OFFSETS_TOPIC = "__consumer_offsets"
_PROBE_TOPIC = "__htx_ready_probe"
_UNKNOWN_TOPIC_OR_PARTITION = 3


def probe(bootstrap_servers: str, timeout: float, *, check_group_coordinator: bool) -> str | None:
    """Ask the broker for cluster metadata with aiokafka; ``None`` when it is usable, else why not.

    Runs its own event loop in a worker thread, so it also works when called from inside a running loop.
    """
    outcome: list[str | None] = []

    def run() -> None:
        try:
            probe = _probe_async(bootstrap_servers, check_group_coordinator)
            outcome.append(asyncio.run(asyncio.wait_for(probe, timeout)))
        except Exception as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")

    worker = threading.Thread(target=run, name="kafka-ready-probe", daemon=True)
    worker.start()
    worker.join(timeout + 5.0)
    if not outcome:
        return f"metadata probe did not finish within {timeout:.0f}s"
    return outcome[0]


async def _probe_async(bootstrap_servers: str, check_group_coordinator: bool) -> str | None:
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers, client_id="htx-kafka-ready-probe", request_timeout_ms=5000
    )
    try:
        await client.bootstrap()
        cluster = await client.fetch_all_metadata()
        if not cluster.brokers():
            return "metadata lists no broker yet"
        if check_group_coordinator:
            return await _group_offsets_not_loaded(client, cluster)
        return None
    finally:
        await client.close()


async def _group_offsets_not_loaded(client: Any, cluster: Any) -> str | None:
    """Why committed offsets cannot be read reliably yet (``None`` once every offsets partition is loaded).

    After a restart the group coordinator loads ``__consumer_offsets`` in the background. Meanwhile
    OffsetFetch v2+ answers COORDINATOR_LOAD_IN_PROGRESS as a *top-level* error, which aiokafka ignores and
    reads as "no committed offset" -- a consumer would then fall back to ``auto_offset_reset``. So the
    broker only counts as ready once an OffsetFetch for a group on every offsets partition succeeds. On a
    fresh broker the topic is created first, so the first consumer group does not wait for it either.
    """
    from aiokafka.protocol.commit import OffsetFetchRequest
    from aiokafka.protocol.coordination import FindCoordinatorRequest

    partitions = cluster.partitions_for_topic(_OFFSETS_TOPIC)
    if not partitions:
        # Fresh broker: a FindCoordinator creates the topic now rather than under the first test's consumer.
        await client.send(client.get_random_node(), FindCoordinatorRequest(_group_on_offsets_partition(0, 1), 0))
        return f"creating {_OFFSETS_TOPIC}"
    count = len(partitions)
    for partition in sorted(partitions):
        group = _group_on_offsets_partition(partition, count)
        found = await client.send(client.get_random_node(), FindCoordinatorRequest(group, 0))
        if found.error_code:
            return f"no group coordinator for {_OFFSETS_TOPIC}-{partition} yet (error {found.error_code})"
        fetched = await client.send(found.coordinator_id, OffsetFetchRequest(group, [(_PROBE_TOPIC, [0])]))
        codes = [int(getattr(fetched, "error_code", 0))]
        codes += [int(row[3]) for _topic, rows in fetched.topics for row in rows]
        bad = [code for code in codes if code not in (0, _UNKNOWN_TOPIC_OR_PARTITION)]
        if bad:
            return f"group coordinator still loading {_OFFSETS_TOPIC}-{partition} (error {bad[0]})"
    return None


def _group_on_offsets_partition(partition: int, count: int) -> str:
    """A group id that Kafka maps to ``__consumer_offsets-<partition>`` (abs(String.hashCode) % count)."""
    for attempt in range(100_000):
        group = f"htx-ready-probe-{attempt}"
        code = 0
        for char in group:
            code = (31 * code + ord(char)) & 0xFFFFFFFF
        signed = code - (1 << 32) if code >= 1 << 31 else code
        if (0 if signed == -(1 << 31) else abs(signed)) % count == partition:
            return group
    raise RuntimeError(f"no probe group id maps to {_OFFSETS_TOPIC}-{partition}")
