"""What the fault tests drive the system with and how they judge it afterwards.

The load and the faults go through the front door (HTTP, signals, the broker and the database server going
away). The judgement looks behind it: it reads the services' tables and the topics directly, because
"exactly once" is a statement about rows and records, not about responses.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.events import topics
from shared.events.topics import dlq_topic
from tests.integration.kafka_helpers import header, read_topic
from tests.system.processes import ServiceProcess

DISTRICTS = ("916", "917", "918", "919", "923", "924", "925", "926", "927")
FAULT_PLAN_CODE = "FAULT-DRILL"

# A plan of our own with a deadline in the future, so statuses move between achieved / at risk / off track
# as the load changes the numbers (plan 219's targets ended in 2025: they can only be achieved or missed).
FAULT_PLAN: dict[str, Any] = {
    "code": FAULT_PLAN_CODE,
    "title": "Diễn tập sự cố (fault drill): tỷ lệ HTX khá, tốt và mô hình điểm mỗi quận, huyện",
    "issued_on": "2026-01-05",
    "baseline_period": "2025-H2",
    "indicators": [
        {
            "code": "fair_or_better_share",
            "name": "Tỷ lệ HTX NN xếp loại khá, tốt",
            "kind": "share",
            "unit": "%",
            "scale": 100,
            "population": [{"field": "legal_status", "op": "eq", "value": "active"}],
            "predicate": [{"field": "classification", "op": "in", "value": ["good", "fair"]}],
        },
        {
            "code": "model_count",
            "name": "Số mô hình điểm",
            "kind": "count",
            "unit": "HTX",
            "population": [{"field": "legal_status", "op": "eq", "value": "active"}],
            "predicate": [{"field": "is_model", "op": "eq", "value": True}],
        },
    ],
    "targets": [
        {
            "code": "D.1",
            "title": "Trên 60% HTX đạt loại khá, tốt",
            "indicator": "fair_or_better_share",
            "direction": "increase",
            "threshold": 60,
            "deadline": "2030-12-31",
            "scope": "city",
            "lead": "SNN",
            "coordinating": ["LMHTX"],
        },
        {
            "code": "D.2",
            "title": "Mỗi quận, huyện có ít nhất 01 mô hình điểm",
            "indicator": "model_count",
            "direction": "increase",
            "threshold": 1,
            "deadline": "2030-12-31",
            "scope": "each_district",
            "yes_no": True,
            "lead": "SNN",
            "coordinating": ["district_committees"],
        },
    ],
}


def status_body(rng: random.Random, *, period: str = "2026-H2", as_of: str = "2026-11-20") -> dict[str, Any]:
    """A plausible status report; classification and is_model drawn so the targets keep crossing the line."""
    managers = rng.randint(3, 9)
    return {
        "as_of": as_of,
        "period": period,
        "members_official": rng.randint(7, 120),
        "members_associate": rng.randint(0, 40),
        "charter_capital_vnd": rng.randint(100, 5_000) * 1_000_000,
        "revenue_vnd": rng.randint(200, 20_000) * 1_000_000,
        "farmland_ha": f"{rng.uniform(5, 300):.2f}",
        "production_value_vnd": rng.randint(500, 40_000) * 1_000_000,
        "classification": rng.choices(["good", "fair", "average", "weak"], weights=[25, 37, 28, 10])[0],
        "is_model": rng.random() < 0.12,
        "enterprise_linked": rng.random() < 0.4,
        "high_tech_or_gap": rng.random() < 0.3,
        "ecommerce": rng.random() < 0.3,
        "ocop_products": rng.randint(0, 3),
        "managers_total": managers,
        "managers_trained": rng.randint(0, managers),
        "managers_female": rng.randint(0, managers),
        "managers_under_35": rng.randint(0, managers),
    }


def cooperative_body(rng: random.Random, district: str, n: int) -> dict[str, Any]:
    return {
        "registration_code": "57" + f"{rng.randrange(10**8):08d}",
        "name": f"Hợp tác xã Nông nghiệp Diễn Tập {district}-{n:03d}",
        "unit_code": district,
        "address": f"Ấp {n}, quận/huyện {district}, TP Cần Thơ",
        "sector": rng.choice(["cultivation", "livestock", "aquaculture", "agricultural_services"]),
        "established_on": "2018-05-02",
        "legal_status": "active",
        "contact_name": "Trần Thị Diễn",
    }


# -- load -------------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    committed: int = 0
    retries: int = 0
    replayed: int = 0
    status_codes: Counter[int] = field(default_factory=Counter)


async def post_status_updates(
    registry_url: str,
    headers: dict[str, str],
    cooperatives: Sequence[str],
    count: int,
    *,
    seed: int,
    label: str,
    concurrency: int = 6,
    give_up_after: float = 180.0,
) -> LoadResult:
    """POST `count` status reports, each with its own Idempotency-Key, retrying until each one is committed.

    A client of a government API does exactly this when the server goes away mid-request: it retries with
    the same key, and the registry answers a retry of a committed request with the stored response. Each
    worker owns a disjoint slice of the cooperatives, so no two requests race for the same revision.
    """
    result = LoadResult()

    async def worker(w: int) -> None:
        rng = random.Random(seed * 1000 + w)
        mine = cooperatives[w::concurrency]
        async with httpx.AsyncClient(base_url=registry_url, headers=headers, timeout=30) as client:
            for i in range(w, count, concurrency):
                coop = mine[(i // concurrency) % len(mine)]
                body = status_body(rng)
                key = f"drill-{label}-{i:06d}"
                deadline = time.monotonic() + give_up_after  # longer than any outage the tests cause
                while True:
                    try:
                        response = await client.post(
                            f"/v1/cooperatives/{coop}/status-reports", json=body, headers={"Idempotency-Key": key}
                        )
                    except httpx.HTTPError:
                        response = None
                    if response is not None:
                        result.status_codes[response.status_code] += 1
                    if response is not None and response.status_code == 201:
                        result.committed += 1
                        if response.headers.get("Idempotent-Replayed") == "true":
                            result.replayed += 1
                        break
                    if response is not None and response.status_code < 500 and response.status_code != 429:
                        raise AssertionError(f"update {key} refused: {response.status_code} {response.text}")
                    if time.monotonic() > deadline:
                        raise AssertionError(f"update {key} not committed within {give_up_after:.0f}s")
                    result.retries += 1
                    await asyncio.sleep(0.3)

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return result


# -- faults -----------------------------------------------------------------------------------------------


class Killer:
    """A thread that SIGKILLs one of `victims` at random moments and starts it again, until told to stop."""

    def __init__(self, victims: Sequence[ServiceProcess], *, seed: int, pause: tuple[float, float] = (2.0, 6.0)):
        self.victims = list(victims)
        self.rng = random.Random(seed)
        self.pause = pause
        self.kills: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="killer", daemon=True)
        self.error: BaseException | None = None

    @property
    def total(self) -> int:
        return sum(self.kills.values())

    def start(self) -> Killer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=180)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.rng.uniform(*self.pause)):
                victim = self.rng.choice(self.victims)
                victim.kill()
                self.kills[victim.label] += 1
                time.sleep(self.rng.uniform(0.1, 1.0))  # a moment with nobody doing the job
                victim.start()
                victim.wait_healthy(120)
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc


# -- a webhook endpoint that counts what it receives -----------------------------------------------------


class WebhookSink:
    """A receiver on 127.0.0.1 that answers 200 and counts each `X-HTX-Delivery` it sees."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                with sink.lock:
                    sink.received[self.headers.get("X-HTX-Delivery", "?")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/htx"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @contextmanager
    def running(self) -> Iterator[WebhookSink]:
        self._thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


# -- looking behind the door ------------------------------------------------------------------------------


async def fetchval(database_url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def group_lag(bootstrap: str, group: str, topic_names: Iterable[str]) -> int:
    """Records on `topic_names` not yet committed by `group` (end offset − committed offset, summed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps: list[TopicPartition] = []
        for name in topic_names:
            partitions = consumer.partitions_for_topic(name)
            if partitions is None:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(name) or set()
            tps.extend(TopicPartition(name, p) for p in partitions)
        if not tps:
            return 0
        ends = await consumer.end_offsets(tps)
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += max(0, ends[tp] - done)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


async def reset_group(bootstrap: str, group: str, topic_names: Iterable[str]) -> None:
    """Rewind `group` to the beginning of `topic_names` (the group must have no members: its services stopped)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps: list[TopicPartition] = []
        for name in topic_names:
            await consumer._client.force_metadata_update()
            tps.extend(TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or set())
        consumer.assign(tps)
        await consumer.commit({tp: 0 for tp in tps})
    finally:
        await consumer.stop()


async def wait_for(check: Callable[[], Awaitable[bool]], *, within: float, what: str, every: float = 1.0) -> float:
    """Poll `check` until true; the seconds it took. Fails the test with `what` after `within` seconds."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(every)


@dataclass
class Topics:
    prefix: str

    def name(self, base: str) -> str:
        return self.prefix + base

    @property
    def indicators_in(self) -> list[str]:
        return [self.name(topics.COOPERATIVE_STATUS), self.name(topics.ORG_UNITS)]

    @property
    def notifications_in(self) -> list[str]:
        return [self.name(t) for t in (topics.AGENCIES, topics.TARGET_STATUS, topics.REPORT_SUBMISSIONS)]


async def backlog(database_url: str, bootstrap: str, t: Topics) -> dict[str, int]:
    """What is still in flight: unpublished outbox rows per service and each consumer group's lag."""
    state: dict[str, int] = {}
    for service in ("registry", "indicators", "notifications"):
        state[f"{service} outbox"] = await fetchval(
            database_url, f"SELECT count(*) FROM {service}.outbox WHERE published_at IS NULL"
        )
    state["indicators lag"] = await group_lag(bootstrap, "htx-indicators", t.indicators_in)
    state["notifications lag"] = await group_lag(bootstrap, "htx-notifications", t.notifications_in)
    return state


async def drained(database_url: str, bootstrap: str, t: Topics) -> bool:
    """Nothing left anywhere: every outbox published, both consumer groups at the end of their topics."""
    return not any((await backlog(database_url, bootstrap, t)).values())


@dataclass
class Invariants:
    """The figures behind "exact, not mostly"; :meth:`violations` lists what does not hold."""

    status_reports: int
    registry_events: int
    registry_events_on_topic: int
    unpublished: int
    missing_on_topic: int
    indicators_inbox: int
    distinct_status_events: int
    projection_mismatches: int
    recompute_exit: int
    recompute_output: str
    notifications_inbox: int
    distinct_notifications_events: int
    alerts: int
    duplicate_open_alerts: int
    deliveries: int
    duplicate_deliveries: int
    inbox_stream_mismatch: int
    duplicate_stream_events: int
    expected_status_reports: int | None = None

    def violations(self) -> list[str]:
        problems = []
        if self.expected_status_reports is not None and self.status_reports != self.expected_status_reports:
            problems.append(f"status reports {self.status_reports} != committed {self.expected_status_reports}")
        if self.unpublished:
            problems.append(f"{self.unpublished} outbox rows never published")
        if self.missing_on_topic:
            problems.append(f"{self.missing_on_topic} committed registry events missing from the topic")
        if self.indicators_inbox != self.distinct_status_events:
            problems.append(f"indicators inbox {self.indicators_inbox} != events {self.distinct_status_events}")
        if self.projection_mismatches:
            problems.append(f"{self.projection_mismatches} cooperatives at another version in the projection")
        if self.recompute_exit != 0:
            problems.append(f"full recompute differs (exit {self.recompute_exit}): {self.recompute_output[:2000]}")
        if self.notifications_inbox != self.distinct_notifications_events:
            problems.append(
                f"notifications inbox {self.notifications_inbox} != events {self.distinct_notifications_events}"
            )
        for name in ("duplicate_open_alerts", "duplicate_deliveries", "inbox_stream_mismatch"):
            if getattr(self, name):
                problems.append(f"{name} = {getattr(self, name)}")
        if self.duplicate_stream_events:
            problems.append(f"duplicate_stream_events = {self.duplicate_stream_events}")
        return problems

    def summary(self) -> str:
        return (
            f"status reports {self.status_reports}, registry events {self.registry_events} "
            f"(on topic {self.registry_events_on_topic}, missing {self.missing_on_topic}, unpublished "
            f"{self.unpublished}); indicators inbox {self.indicators_inbox} = distinct {self.distinct_status_events},"
            f" recompute exit {self.recompute_exit}; notifications inbox {self.notifications_inbox} = distinct "
            f"{self.distinct_notifications_events}; alerts {self.alerts}, deliveries {self.deliveries}; duplicates: "
            f"alerts {self.duplicate_open_alerts}, deliveries {self.duplicate_deliveries}, stream events "
            f"{self.duplicate_stream_events}; inbox/stream mismatch {self.inbox_stream_mismatch}"
        )


def _event_ids(records: Iterable[Any], dead: set[tuple[str, int, int]]) -> set[str]:
    """`source#id` of each record a consumer must apply: all but those it parked in the dead-letter topic."""
    ids = set()
    for record in records:
        if (record.topic, record.partition, record.offset) in dead:
            continue
        source, ident = header(record, "ce_source"), header(record, "ce_id")
        if source and ident:
            ids.add(f"{source}#{ident}")
    return ids


async def _dead_lettered(bootstrap: str, topic: str) -> set[tuple[str, int, int]]:
    dead = set()
    for record in await read_topic(bootstrap, dlq_topic(topic)):
        partition, offset = header(record, "dlq_original_partition"), header(record, "dlq_original_offset")
        if partition is not None and offset is not None:
            dead.add((topic, int(partition), int(offset)))
    return dead


async def check_invariants(database_url: str, bootstrap: str, t: Topics, env: dict[str, str]) -> Invariants:
    status_topic = t.name(topics.COOPERATIVE_STATUS)
    status_records = await read_topic(bootstrap, status_topic)
    status_ids = _event_ids(status_records, await _dead_lettered(bootstrap, status_topic))
    on_topic = {ident for r in status_records if (ident := header(r, "ce_id")) is not None}
    registry_rows = await fetch(
        database_url,
        "SELECT event_id, published_at FROM registry.outbox WHERE topic = $1",
        t.name(topics.COOPERATIVE_STATUS),
    )
    notification_ids: set[str] = set()
    for name in t.notifications_in:
        notification_ids |= _event_ids(await read_topic(bootstrap, name), await _dead_lettered(bootstrap, name))

    recompute = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.indicators.workers.recompute",
        "--no-publish",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(recompute.communicate(), timeout=600)
    differences = [
        line for line in out.decode().splitlines() if line.startswith("{") and json.loads(line)["differences"]
    ]
    one = fetchval
    return Invariants(
        status_reports=await one(database_url, "SELECT count(*) FROM registry.status_reports"),
        registry_events=len(registry_rows),
        registry_events_on_topic=len(on_topic),
        unpublished=sum(1 for r in registry_rows if r["published_at"] is None),
        missing_on_topic=sum(1 for r in registry_rows if r["event_id"] not in on_topic),
        indicators_inbox=await one(
            database_url, "SELECT count(*) FROM indicators.inbox WHERE topic = $1", t.name(topics.COOPERATIVE_STATUS)
        ),
        distinct_status_events=len(status_ids),
        projection_mismatches=await _projection_mismatches(database_url),
        recompute_exit=recompute.returncode if recompute.returncode is not None else -1,
        recompute_output="\n".join(differences) or err.decode()[-2000:],
        notifications_inbox=await one(
            database_url, "SELECT count(*) FROM notifications.inbox WHERE topic = ANY($1::text[])", t.notifications_in
        ),
        distinct_notifications_events=len(notification_ids),
        alerts=await one(database_url, "SELECT count(*) FROM notifications.alerts"),
        duplicate_open_alerts=await one(
            database_url,
            "SELECT count(*) FROM (SELECT dedup_key FROM notifications.alerts WHERE state <> 'resolved'"
            " GROUP BY dedup_key HAVING count(*) > 1) d",
        ),
        deliveries=await one(database_url, "SELECT count(*) FROM notifications.deliveries"),
        # One notice of one alert version reaches one channel once: a second row would be a second effect.
        duplicate_deliveries=await one(
            database_url,
            "SELECT count(*) FROM (SELECT 1 FROM notifications.deliveries WHERE alert_id IS NOT NULL"
            " GROUP BY alert_id, channel_id, notice, payload->'event'->'alert'->>'version' HAVING count(*) > 1) d",
        ),
        # The inbox message and the stream event of a notice are written together; a lone one is a half-effect.
        inbox_stream_mismatch=abs(
            await one(database_url, "SELECT count(*) FROM notifications.inbox_messages")
            - await one(database_url, "SELECT count(*) FROM notifications.stream_events")
        ),
        duplicate_stream_events=await one(
            database_url,
            "SELECT count(*) FROM (SELECT 1 FROM notifications.stream_events"
            " GROUP BY agency_code, alert_id, event, data->>'version', data->>'fallback_for'"
            " HAVING count(*) > 1) d",
        ),
    )


async def _projection_mismatches(database_url: str) -> int:
    value: int = await fetchval(
        database_url,
        "SELECT count(*) FROM registry.cooperatives r FULL JOIN indicators.cooperatives i"
        " ON i.cooperative_id = r.id WHERE i.version IS DISTINCT FROM r.version",
    )
    return value


async def side_effect_counts(database_url: str) -> dict[str, int]:
    """Row counts (and a fingerprint of the values) that a replay must leave exactly as they are."""
    counts: dict[str, int] = {}
    for table in (
        "indicators.inbox",
        "indicators.outbox",
        "indicators.indicator_values",
        "indicators.target_status",
        "notifications.inbox",
        "notifications.outbox",
        "notifications.alerts",
        "notifications.deliveries",
        "notifications.inbox_messages",
        "notifications.stream_events",
    ):
        counts[table] = await fetchval(database_url, f"SELECT count(*) FROM {table}")  # noqa: S608 (fixed names)
    rows = await fetch(
        database_url,
        "SELECT plan_code, indicator_code, unit_code, period, value::text AS v, version"
        " FROM indicators.indicator_values ORDER BY 1, 2, 3, 4",
    )
    digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    counts["indicator_values_fingerprint"] = int(digest[:12], 16)
    alerts = await fetch(
        database_url, "SELECT id::text, state, version, notify_count FROM notifications.alerts ORDER BY 1"
    )
    counts["alerts_fingerprint"] = int(hashlib.sha256(repr([tuple(r) for r in alerts]).encode()).hexdigest()[:12], 16)
    return counts


def dlq_entries(records: Iterable[Any]) -> list[dict[str, str | None]]:
    return [
        {
            "error_type": header(r, "dlq_error_type"),
            "error": header(r, "dlq_error"),
            "consumer": header(r, "dlq_consumer"),
            "original_offset": header(r, "dlq_original_offset"),
        }
        for r in records
    ]
