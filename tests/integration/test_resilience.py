"""The plumbing keeps its promises when the infrastructure misbehaves: a broker restart, a SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.infra.kafka import KafkaBroker, start_kafka
from shared.infra.stack import Stack
from shared.messaging.kafka import create_producer, ensure_topics
from tests.integration.kafka_helpers import eventually
from tests.integration.test_event_plumbing import plumbing_for, run_until, stop

pytestmark = pytest.mark.integration


@pytest.fixture
async def own_broker(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[KafkaBroker]:
    """A broker of the same flavour as the harness's, owned by this test so it can be stopped and restarted."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)  # start one, even if the services use another
    broker = await asyncio.to_thread(
        start_kafka,
        tmp_path,
        impl=stack.kafka.impl if stack.kafka.impl != "external" else None,
        ci=os.environ.get("CI") == "true",
    )
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


async def test_a_consumer_survives_a_broker_restart_with_every_effect_applied_once(
    stack: Stack, engine: AsyncEngine, own_broker: KafkaBroker
) -> None:
    async with plumbing_for(stack, engine, bootstrap=own_broker.bootstrap_servers) as p:
        first = [await p.deposit_with_outbox(f"acct-{i % 7}", 1) for i in range(60)]
        assert len(first) == await p.relay(batch_size=500).publish_pending()
        p.handling_delay = 0.01
        runner = p.consumer(f"g-{uuid.uuid4().hex[:8]}")
        task = await run_until(runner)
        try:

            async def some_applied() -> bool:
                return await p.count(p.inbox) >= 10

            await eventually(some_applied, what="the first events to be applied")
            await asyncio.to_thread(own_broker.stop)  # mid-run
            await asyncio.sleep(2)
            await asyncio.to_thread(own_broker.start)
            if own_broker.impl == "tansu":  # memory-only broker: the topic has to be recreated and refilled
                await ensure_topics(own_broker.bootstrap_servers, [p.topic], partitions=4)
            await p.producer.stop()
            p.producer = create_producer(own_broker.bootstrap_servers, client_id="plumbing-test-2")
            await p.producer.start()
            for i in range(40):
                await p.deposit_with_outbox(f"acct-{i % 7}", 1)
            relay = p.relay(batch_size=500)

            async def relayed() -> bool:
                await relay.publish_pending()
                return await p.unpublished() == 0

            await eventually(relayed, within=60, what="the relay to publish after the restart")
            expected = 100 if own_broker.impl == "apache" else None

            async def all_applied() -> bool:
                count = await p.count(p.inbox)
                return count == expected if expected else count >= 40

            await eventually(all_applied, within=120, what="every event to be applied after the restart")
        finally:
            await stop(runner, task)
        if own_broker.impl == "apache":
            assert sum((await p.balances()).values()) == 100  # each deposit applied exactly once


async def test_a_service_stops_cleanly_on_sigterm(service_env: Stack, tmp_path: Path) -> None:
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "REGISTRY_PORT": str(port), "LOG_JSON": "true"}
    log_path = tmp_path / "registry.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.registry", env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient() as client:
                while True:
                    try:
                        if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert proc.returncode is None, "the service exited during start-up"
                    assert time.monotonic() < deadline, "the service did not become ready"
                    await asyncio.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
    output = log_path.read_text()
    # uvicorn shuts down gracefully, then re-raises the captured SIGTERM so the exit status says why it stopped.
    assert code in (0, -signal.SIGTERM), output[-2000:]
    assert '"msg": "service stopped"' in output, output[-2000:]
    assert '"level": "error"' not in output, output[-2000:]
