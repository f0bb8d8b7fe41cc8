"""The services under faults: SIGKILLs, the broker and the database going away, scaling, replay, poison.

One system (registry API, registry worker with the outbox relay, indicators, notifications — each its own OS
process) runs on its own PostgreSQL and Apache Kafka for this module, because these tests stop both. The
tests run in order and build on each other's data; after each one the same invariants must hold *exactly*:

- every committed status report was published (outbox empty, every event id on the topic);
- every event was applied exactly once (inbox rows = distinct events; the indicators' projection is at the
  registry's version; indicator values equal a full recompute);
- no duplicate alert, delivery, inbox message or stream event.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from shared.events import topics
from shared.infra.stack import Stack, start_stack
from shared.messaging.kafka import create_producer
from shared.migrations import upgrade_all
from tests.conftest import report
from tests.integration.kafka_helpers import read_topic
from tests.system.fault_support import (
    DISTRICTS,
    FAULT_PLAN,
    FAULT_PLAN_CODE,
    Killer,
    Topics,
    WebhookSink,
    backlog,
    check_invariants,
    cooperative_body,
    dlq_entries,
    drained,
    fetch,
    group_lag,
    post_status_updates,
    reset_group,
    side_effect_counts,
    status_body,
    wait_for,
)
from tests.system.processes import ServiceProcess, System, bearer, system_env

# Each test waits for a whole system to catch up after its faults; the module's own bound is the CI budget.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

UPDATES_UNDER_KILLS = 10_000
MIN_KILLS = 21
COOPERATIVES_PER_DISTRICT = 10
DRAIN_WITHIN = 1200.0


@dataclass
class Drill:
    stack: Stack
    env: dict[str, str]
    system: System
    topics: Topics
    sink: WebhookSink
    cooperatives: list[str] = field(default_factory=list)
    committed_reports: int = 0

    @property
    def db(self) -> str:
        return self.stack.database_url

    @property
    def registry_url(self) -> str:
        return self.system["registry-api"].url

    async def wait_drained(self, what: str) -> float:
        try:
            return await wait_for(
                lambda: drained(self.db, self.stack.bootstrap_servers, self.topics),
                within=DRAIN_WITHIN,
                what=f"{what}: outboxes published and consumer lag 0",
                every=2.0,
            )
        except AssertionError as exc:
            left = await backlog(self.db, self.stack.bootstrap_servers, self.topics)
            raise AssertionError(f"{exc}; still in flight: {left}\n{self.logs()}") from None

    async def assert_invariants(self, phase: str) -> None:
        found = await check_invariants(self.db, self.stack.bootstrap_servers, self.topics, self.env)
        found.expected_status_reports = self.committed_reports
        report(f"[faults] {phase}: {found.summary()}")
        assert not found.violations(), f"{phase}: {found.violations()}\n{self.logs()}"
        assert found.registry_events >= found.status_reports  # each report is one event (+ creations)
        # An outage is answered 503 (retry), never by an unhandled error (500 with a logged traceback).
        unhandled = [line[:300] for p in self.system for line in p.errors_logged() if "unhandled error" in line]
        assert not unhandled, f"{phase}: unhandled errors logged: {unhandled[:3]}"

    def logs(self) -> str:
        return "\n".join(f"--- {p.label} ---\n{p.log_tail(15)}" for p in self.system)


@pytest.fixture(scope="module")
def drill_stack() -> Iterator[Stack]:
    """A PostgreSQL and a Kafka of this module's own: the tests below stop and restart both.

    Started even when the session's fixtures have pointed DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS at the
    shared ones (start_stack would otherwise reuse those as "external" servers it cannot restart)."""
    saved = {k: os.environ.pop(k) for k in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS") if k in os.environ}
    try:
        stack = start_stack(persistent=False)
    finally:
        os.environ.update(saved)
    assert stack.postgres.impl == "embedded" and stack.kafka.impl != "external", stack.describe()
    try:
        upgrade_all(stack.database_url)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
async def drill(drill_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Drill]:
    prefix = f"drill{uuid.uuid4().hex[:6]}."
    env = system_env(
        drill_stack.database_url,
        drill_stack.bootstrap_servers,
        prefix,
        REGISTRY_RELAY_POLL_SECONDS="0.5",
        INDICATORS_RELAY_POLL_SECONDS="0.5",
        NOTIFICATIONS_RELAY_POLL_SECONDS="0.5",
        NOTIFICATIONS_DELIVERY_POLL_SECONDS="0.5",
        NOTIFICATIONS_SCHEDULER_INTERVAL_SECONDS="5",
        # The test's webhook receiver listens on loopback over http: allowed here, refused by default.
        NOTIFICATIONS_WEBHOOK_ALLOWED_NETWORKS='["127.0.0.0/8"]',
        NOTIFICATIONS_WEBHOOK_ALLOW_HTTP="true",
    )
    logs = tmp_path_factory.mktemp("drill-logs")
    system = System({})
    # The API replica takes the writes; the worker replica runs the outbox relay (and is what gets killed).
    system.add(ServiceProcess("registry", env, logs, label="registry-worker"))
    system.add(ServiceProcess("registry", env, logs, label="registry-api", workers=False))
    system.add(ServiceProcess("indicators", env, logs))
    system.add(ServiceProcess("notifications", env, logs))
    sink = WebhookSink()
    with sink.running():
        system["registry-worker"].start().wait_healthy()  # seeds units and agencies once, then the rest
        system.start()
        drill = Drill(drill_stack, env, system, Topics(prefix), sink)
        try:
            await _prepare(drill)
            yield drill
        finally:
            system.stop()


async def _prepare(drill: Drill) -> None:
    """The drill's own plan (future deadline), SNN's webhook, and 90 cooperatives with a baseline report."""
    admin = bearer()
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.put(
            f"{drill.system['indicators'].url}/v1/plans/{FAULT_PLAN_CODE}", json=FAULT_PLAN, headers=admin
        )
        assert response.status_code == 200, response.text

        notifications = drill.system["notifications"].url

        async def snn_known() -> bool:
            return (await client.get(f"{notifications}/v1/agencies/SNN/channels", headers=admin)).status_code == 200

        await wait_for(snn_known, within=120, what="notifications to learn the agencies from the registry")
        current = await client.get(f"{notifications}/v1/agencies/SNN/channels", headers=admin)
        contacts = {
            "language": "vi",
            "digest": False,
            "channels": [{"kind": "webhook", "address": drill.sink.url, "secret": "khoa-dien-tap-su-co-0123456789"}],
        }
        response = await client.put(
            f"{notifications}/v1/agencies/SNN/channels",
            json=contacts,
            headers={**admin, "If-Match": current.headers["ETag"]},
        )
        assert response.status_code == 200, response.text

        rng = random.Random(219)
        for district in DISTRICTS:
            for n in range(COOPERATIVES_PER_DISTRICT):
                created = await client.post(
                    f"{drill.registry_url}/v1/cooperatives", json=cooperative_body(rng, district, n), headers=admin
                )
                assert created.status_code == 201, created.text
                coop = created.json()["id"]
                drill.cooperatives.append(coop)
                baseline = status_body(rng, period="2025-H2", as_of="2025-12-31")
                posted = await client.post(
                    f"{drill.registry_url}/v1/cooperatives/{coop}/status-reports", json=baseline, headers=admin
                )
                assert posted.status_code == 201, posted.text
                drill.committed_reports += 1
    await drill.wait_drained("setup")


async def test_10000_updates_while_relay_and_consumers_are_sigkilled(drill: Drill) -> None:
    victims = [drill.system["registry-worker"], drill.system["indicators"], drill.system["notifications"]]
    killer = Killer(victims, seed=6).start()
    started = time.monotonic()
    try:
        load = await post_status_updates(
            drill.registry_url, bearer(), drill.cooperatives, UPDATES_UNDER_KILLS, seed=1, label="kills"
        )
        drill.committed_reports += load.committed
        # Keep killing until every victim died several times, also while the consumers catch up.
        await wait_for(
            lambda: _true_if(killer.total >= MIN_KILLS and min(killer.kills[v.label] for v in victims) >= 5),
            within=600,
            what="enough kills",
        )
    finally:
        killer.stop()
    assert killer.error is None, f"the killer failed: {killer.error!r}"
    load_seconds = time.monotonic() - started
    drain_seconds = await drill.wait_drained("after the kills")
    report(
        f"[faults] SIGKILL: {load.committed} updates committed ({load.retries} retries, {load.replayed} idempotent "
        f"replays) in {load_seconds:.0f}s; kills {killer.total} ({dict(killer.kills)}); "
        f"drained {drain_seconds:.0f}s later"
    )
    assert load.committed == UPDATES_UNDER_KILLS
    assert killer.total >= MIN_KILLS
    await drill.assert_invariants("after SIGKILLs")
    await _assert_webhooks_delivered(drill, kills=killer.kills["notifications"])


async def test_broker_and_database_restarts(drill: Drill) -> None:
    processes = list(drill.system)
    starts = {p.label: p.starts for p in processes}
    load_task = asyncio.create_task(
        post_status_updates(drill.registry_url, bearer(), drill.cooperatives, 800, seed=2, label="outage")
    )
    await asyncio.sleep(3)

    # Kafka goes away: every process says not-ready, then recovers by itself.
    await asyncio.to_thread(drill.stack.kafka.stop)
    kafka_down = await _all_not_ready(processes)
    await asyncio.sleep(5)
    await asyncio.to_thread(drill.stack.kafka.start)
    kafka_back = await _all_ready(processes)

    await asyncio.sleep(3)
    # PostgreSQL goes away: the same.
    await asyncio.to_thread(drill.stack.postgres.halt)
    try:
        db_down = await _all_not_ready(processes)
        # Writers that arrive while the database is away get 503 and retry with the same Idempotency-Key.
        during = asyncio.create_task(
            post_status_updates(drill.registry_url, bearer(), drill.cooperatives, 200, seed=22, label="db-down")
        )
        await asyncio.sleep(5)
    finally:
        await asyncio.to_thread(drill.stack.postgres.resume)
    db_back = await _all_ready(processes)

    load, load_during = await load_task, await during
    assert load_during.retries > 0, "no write met the database outage"
    assert set(load_during.status_codes) <= {201, 503}, load_during.status_codes  # 503, never a 500
    drill.committed_reports += load.committed + load_during.committed
    # Nobody restarted them: each process reconnected by itself.
    assert all(p.alive for p in processes), drill.logs()
    assert {p.label: p.starts for p in processes} == starts
    drain_seconds = await drill.wait_drained("after the outages")
    report(
        f"[faults] outages: {load.committed + load_during.committed} updates committed "
        f"({load.retries + load_during.retries} retries; answers while the database was away: "
        f"{dict(load_during.status_codes)}); "
        f"/readyz not-ready on all {len(processes)} processes {kafka_down:.1f}s after Kafka stopped, ready "
        f"{kafka_back:.1f}s after it started; not-ready {db_down:.1f}s after PostgreSQL stopped, ready "
        f"{db_back:.1f}s after it started; drained in {drain_seconds:.0f}s"
    )
    assert load.committed == 800 and load_during.committed == 200
    await drill.assert_invariants("after broker and database restarts")


async def test_consumer_group_scales_1_to_3_to_1(drill: Drill) -> None:
    main_starts = drill.system["indicators"].starts
    extra = [
        drill.system.add(ServiceProcess("indicators", drill.env, drill.system["indicators"].log_dir, label=label))
        for label in ("indicators-2", "indicators-3")
    ]
    load_task = asyncio.create_task(
        post_status_updates(drill.registry_url, bearer(), drill.cooperatives, 1_500, seed=3, label="scale")
    )
    await asyncio.sleep(2)
    for process in extra:
        process.start()
    for process in extra:
        process.wait_healthy()
    await asyncio.sleep(10)  # the group rebalances to three members while the load runs
    mid_lag = await group_lag(drill.stack.bootstrap_servers, "htx-indicators", drill.topics.indicators_in)
    for process in extra:
        process.stop()  # back to one member: a graceful leave, partitions move back at once
    load = await load_task
    drill.committed_reports += load.committed
    drain_seconds = await drill.wait_drained("after scaling back to one")
    crashed = [p.label for p in extra if p.starts != 1]
    if drill.system["indicators"].starts != main_starts or not drill.system["indicators"].alive:
        crashed.append("indicators")
    report(
        f"[faults] scale 1→3→1: {load.committed} updates; lag with three members {mid_lag}; back to one member, "
        f"lag 0 after {drain_seconds:.0f}s; restarts of indicators processes: {len(crashed)}"
    )
    assert not [p for p in extra if p.alive]
    assert not crashed, f"indicators processes restarted: {crashed}"
    await drill.assert_invariants("after scaling 1 → 3 → 1")


async def test_full_replay_of_every_topic_changes_nothing(drill: Drill) -> None:
    consumers = [drill.system["indicators"], drill.system["notifications"]]
    for process in consumers:
        process.stop()
    before = await side_effect_counts(drill.db)
    bootstrap = drill.stack.bootstrap_servers
    await reset_group(bootstrap, "htx-indicators", drill.topics.indicators_in)
    await reset_group(bootstrap, "htx-notifications", drill.topics.notifications_in)
    replayed = await group_lag(bootstrap, "htx-indicators", drill.topics.indicators_in) + await group_lag(
        bootstrap, "htx-notifications", drill.topics.notifications_in
    )
    for process in consumers:
        process.start()
    for process in consumers:
        process.wait_healthy()
    drain_seconds = await drill.wait_drained("after the replay")
    after = await side_effect_counts(drill.db)
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    report(
        f"[faults] replay: {replayed} records re-read from offset 0 in {drain_seconds:.0f}s; "
        f"new side effects: {len(changed)}"
    )
    assert replayed > UPDATES_UNDER_KILLS
    assert not changed, f"the replay changed: {changed}"
    await drill.assert_invariants("after a full replay")


async def test_malformed_and_unknown_events_go_to_the_dead_letter_topic(drill: Drill) -> None:
    status_topic = drill.topics.name(topics.COOPERATIVE_STATUS)
    target_topic = drill.topics.name(topics.TARGET_STATUS)
    producer = create_producer(drill.stack.bootstrap_servers, client_id="drill-poison")
    await producer.start()
    try:
        await producer.send_and_wait(status_topic, b"{not json", key=b"poison-1")  # no CloudEvents headers at all
        unknown = [
            ("ce_specversion", b"1.0"),
            ("ce_id", str(uuid.uuid4()).encode()),
            ("ce_source", b"/drill"),
            ("ce_type", b"vn.gov.cantho.htx.drill.unknown.v1"),
            ("ce_time", b"2026-11-28T00:00:00Z"),
            ("content-type", b"application/json"),
        ]
        await producer.send_and_wait(target_topic, json.dumps({"x": 1}).encode(), key=b"poison-2", headers=unknown)
    finally:
        await producer.stop()
    # The stream carries on: a real update after the poison is applied.
    load = await post_status_updates(drill.registry_url, bearer(), drill.cooperatives, 30, seed=5, label="after-poison")
    drill.committed_reports += load.committed
    await drill.wait_drained("after the poison events")

    status_dlq = dlq_entries(await read_topic(drill.stack.bootstrap_servers, status_topic + topics.DLQ_SUFFIX))
    target_dlq = dlq_entries(await read_topic(drill.stack.bootstrap_servers, target_topic + topics.DLQ_SUFFIX))
    report(f"[faults] dead letters: {status_dlq + target_dlq}")
    assert [e["error_type"] for e in status_dlq] == ["MalformedEvent"]
    assert status_dlq[0]["consumer"] == "indicators"
    assert [e["error_type"] for e in target_dlq] == ["LookupError"]
    assert "unknown event type" in (target_dlq[0]["error"] or "")
    await drill.assert_invariants("after poison events")


async def _assert_webhooks_delivered(drill: Drill, *, kills: int) -> None:
    """Every webhook delivery the notifications service recorded as sent reached the sink, each at least once.

    A SIGKILL between the POST and the commit that marks it sent re-sends it after the lease; the receiver
    de-duplicates by `X-HTX-Delivery` (docs/webhooks.md). Such re-sends are counted and bounded by the kills.
    """
    ids = {
        str(r)
        for r in await _column(
            drill.db, "SELECT id FROM notifications.deliveries WHERE channel = 'webhook' AND status = 'sent'"
        )
    }
    sent = len(ids)
    with drill.sink.lock:
        received = dict(drill.sink.received)
    missing = ids - set(received)
    resent = sum(n - 1 for n in received.values() if n > 1)
    report(f"[faults] webhooks: {sent} deliveries sent, {len(received)} distinct received, {resent} re-sent")
    assert sent > 0
    assert not missing, f"{len(missing)} deliveries marked sent never arrived"
    assert resent <= kills


async def _column(database_url: str, sql: str) -> list[Any]:
    return [row[0] for row in await fetch(database_url, sql)]


async def _true_if(value: bool) -> bool:
    return value


async def _all_not_ready(processes: list[ServiceProcess], within: float = 60.0) -> float:
    started = time.monotonic()
    pending = set(range(len(processes)))
    while pending:
        pending = {i for i in pending if await asyncio.to_thread(processes[i].readiness) != 503}
        if time.monotonic() - started > within:
            raise AssertionError(f"/readyz stayed ready on {[processes[i].label for i in pending]}")
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def _all_ready(processes: list[ServiceProcess], within: float = 120.0) -> float:
    started = time.monotonic()
    pending = set(range(len(processes)))
    while pending:
        pending = {i for i in pending if await asyncio.to_thread(processes[i].readiness) != 200}
        if time.monotonic() - started > within:
            logs = "\n".join(processes[i].log_tail(20) for i in pending)
            raise AssertionError(f"/readyz not ready again on {[processes[i].label for i in pending]}\n{logs}")
        await asyncio.sleep(0.5)
    return time.monotonic() - started
