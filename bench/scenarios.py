"""Scenarios 2–4: the HTTP write path, the consumers draining a pre-filled topic, end to end, and scale."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import statistics
import time
import traceback
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from bench import floors
from bench.http import LoadResult, client_session, closed_loop
from bench.http import send as send_request
from bench.profile import Profiler
from bench.system import System, registration_code
from bench.util import cpu_ms_per, cpu_seconds_by_process, latency_summary, ratio
from bench.workload import (
    DISTRICTS,
    cooperative_status_event,
    partitions_of,
    produce_all,
    record_of,
    status_body,
    target_status_event,
    wait_caught_up,
)
from shared.db import asyncpg_dsn
from shared.events import topics

# -- 2. write path -----------------------------------------------------------------------------------------


async def write_path(
    system: System,
    bare: floors.BareApp,
    *,
    concurrencies: list[int],
    duration: float,
    catch_up: float,
    rounds: int = 4,
) -> list[dict[str, Any]]:
    """POST status reports at each concurrency, against the bare one-insert endpoint at the same concurrency.

    Both run on the same quiet machine: the consumers (indicators, notifications) have caught up and are paused
    for the measurements, so the figure is the registry's own; they catch up afterwards (the catch-up time is
    recorded). The two endpoints take turns, `rounds` times, each for `duration` ÷ `rounds` seconds, the first
    one alternating (bare, registry; registry, bare; …; an even number of rounds puts each side first equally
    often): a machine that speeds up or slows down during the measurement (the broker's JIT, a checkpoint)
    then weighs on both sides alike. After the registry's turn its relay finishes publishing before the bare
    endpoint's begins. The ratio is the median of the rounds' ratios (`paired_ratio`); the req/s and
    latencies are over all rounds."""
    cooperatives = [c for ids in system.plain.values() for c in ids]
    rng = random.Random(7)
    bodies = [status_body(rng) for _ in range(500)]

    def request(i: int) -> tuple[str, str, dict[str, Any]]:
        coop = cooperatives[i % len(cooperatives)]
        return (
            "POST",
            f"/v1/cooperatives/{coop}/status-reports",
            {"json": bodies[i % len(bodies)], "headers": system.auth},
        )

    async def registry(concurrency: int, seconds: float) -> LoadResult:
        return await closed_loop(system.url("registry"), request, concurrency=concurrency, duration=seconds)

    async def floor(concurrency: int, seconds: float) -> LoadResult:
        return await bare.drive(bodies[0], concurrency=concurrency, duration=seconds)

    rows: list[dict[str, Any]] = []
    await system.wait_drained(timeout=catch_up)
    for concurrency in concurrencies:
        ours: list[LoadResult] = []
        theirs: list[LoadResult] = []
        for name in ("indicators", "notifications"):
            system.procs[name].suspend()
        try:
            for turn in range(rounds):
                sides = [(floor, theirs), (registry, ours)]
                for drive, results in sides if turn % 2 == 0 else reversed(sides):
                    results.append(await drive(concurrency, duration / rounds))
                    if drive is registry:
                        await system.wait_published("registry")
        finally:  # resumed even when a measurement fails, or the run would hang on their lag
            for name in ("indicators", "notifications"):
                system.procs[name].resume()
        drained = await system.wait_drained(timeout=catch_up)
        median, per_round = paired_ratio(ours, theirs)
        summary = LoadResult.merged(ours).summary()
        floor_summary = LoadResult.merged(theirs).summary()
        rows.append(
            {
                "concurrency": concurrency,
                "registry": summary,
                "bare_fastapi": floor_summary,
                "ratio": median,
                "round_ratios": per_round,
                "consumers_catch_up_s": None if drained is None else round(drained, 2),
            }
        )
        print(
            f"  write path c={concurrency}: registry {summary['req_per_s']} req/s (p99 {summary['p99_ms']} ms), "
            f"bare {floor_summary['req_per_s']} req/s → {median} (median of rounds {per_round})",
            flush=True,
        )
    return rows


def paired_ratio(ours: list[LoadResult], floors: list[LoadResult]) -> tuple[float | None, list[float | None]]:
    """The median of the rounds' ratios, and each round's. A round in which the registry served nothing counts
    as 0, not as unknown; a round without a floor leaves the whole figure unknown (None)."""
    per_round: list[float | None] = []
    for result, floor in zip(ours, floors, strict=True):
        floor_rate = floor.summary()["req_per_s"]
        per_round.append(round((result.summary()["req_per_s"] or 0.0) / floor_rate, 3) if floor_rate else None)
    if not per_round or None in per_round:
        return None, per_round
    return round(statistics.median(r for r in per_round if r is not None), 3), per_round


# -- consumers draining a pre-filled topic ----------------------------------------------------------------


async def consumer_drain(
    system: System, *, events: int, notification_events: int, budget: float, profile: bool = False
) -> dict[str, Any]:
    """Pause a service, pre-fill its input topic, measure the raw aiokafka drain of the same records, resume the
    service and time until its group has committed them all — at most half of `budget` seconds per service; a
    drain cut short is recorded with the rate of what was committed by then (`completed: false`).

    With `profile`, py-spy samples each service while it drains. That costs CPU on a machine the drain already
    fills, so a profiled drain is a repeat after the measured one, never the measured one."""
    rng = random.Random(11)
    each = budget / 2
    results: dict[str, Any] = {}

    # Indicators: cooperative-status events, two versions each of events/2 new cooperatives across the districts.
    coops = [(uuid.uuid4(), DISTRICTS[i % len(DISTRICTS)]) for i in range(events // 2)]
    indicator_records = [
        record_of(cooperative_status_event(rng, coop, version, unit), "registry")
        for version in (1, 2)
        for coop, unit in coops
    ]
    results["indicators"] = await _drain_one(
        system, "indicators", "htx-indicators", topics.COOPERATIVE_STATUS, indicator_records, each, profile
    )

    # Notifications: target-status events alternating missed/achieved on bench targets of every district.
    pairs = [(f"BENCH.{k}", unit) for k in range(1, 6) for unit in DISTRICTS]
    notification_records: list[Any] = []
    # A repeat continues past the measured drain's versions of each target: older ones would be ignored.
    version = -(-notification_events // len(pairs)) if profile else 0
    while len(notification_records) < notification_events:
        version += 1
        for code, unit in pairs:
            status = "missed" if version % 2 == 1 else "achieved"
            notification_records.append(record_of(target_status_event(code, unit, version, status), "indicators"))
    notification_records = notification_records[:notification_events]
    results["notifications"] = await _drain_one(
        system, "notifications", "htx-notifications", topics.TARGET_STATUS, notification_records, each, profile
    )
    return results


async def _drain_one(
    system: System, service: str, group: str, topic: str, records: list[Any], budget: float, profile: bool
) -> dict[str, Any]:
    deadline = time.perf_counter() + budget
    await system.wait_drained(timeout=min(60.0, budget / 4))
    proc = system.procs[service]
    before = await system.kafka.end_offsets([topic])
    proc.suspend()
    try:
        await produce_all(system.bootstrap, records)
        after = await system.kafka.end_offsets([topic])
        raw = await floors.kafka_consume_commit(system.bootstrap, before, after)
    finally:
        proc.resume()
    profiler = None
    if profile and system.profile_dir:
        profiler = Profiler(proc.pid, system.profile_dir / f"{service}-drain.raw")
    t0 = time.perf_counter()
    if system.sampler:
        system.sampler.mark(f"drain-{service}")
    seconds = await wait_caught_up(system.kafka, group, after, timeout=max(10.0, deadline - t0))
    if profiler is not None:
        profiler.stop()
    if seconds is None:
        seconds_s = time.perf_counter() - t0
        applied = await system.kafka.committed_since(group, before)
        done = False
    else:
        seconds_s, applied, done = seconds, len(records), True
    rate = applied / seconds_s
    payload_bytes = sum(len(r[1]) for r in records) // max(1, len(records))
    row = {
        "events": len(records),
        "events_applied": applied,
        "payload_bytes_avg": payload_bytes,
        "seconds": round(seconds_s, 2),
        "completed": done,
        "events_per_s": round(rate, 1),
        "raw_consume_commit": raw,
        "ratio": ratio(rate, raw["msgs_per_s"]),
    }
    print(
        f"  drain {service}: {row['events_per_s']} ev/s vs raw {raw['msgs_per_s']} msg/s → {row['ratio']}"
        + ("" if done else f" (time budget: {applied} of {len(records)} applied in {seconds_s:.0f} s)"),
        flush=True,
    )
    return row


# -- 3. end to end -----------------------------------------------------------------------------------------


def _outcome(stage: str, data: dict[str, Any]) -> bool | None:
    """Which toggle an event shows: True for "the district has its model cooperative" (model_count 1, alert
    resolved), False for the opposite (0, alert open), None when the event does not say (target status)."""
    if stage == "value":
        return float(data.get("value") or 0) >= 1
    if stage == "alert":  # an alert is open (acknowledged or not) while the district lacks its model cooperative
        return data.get("state") == "resolved" if data.get("state") in ("open", "acknowledged", "resolved") else None
    return None


class Collector:
    """Reads the output topics from their end and notes when events about the toggled targets arrive."""

    WATCH = (topics.INDICATOR_VALUES, topics.TARGET_STATUS, topics.ALERTS)
    # Per topic: the field naming what an event is about, the toggled target's code in it, and the stage noted.
    STAGES = {
        topics.INDICATOR_VALUES: ("indicator_code", "model_count", "value"),
        topics.TARGET_STATUS: ("target_code", "III.3.a", "target_status"),
        topics.ALERTS: ("target_code", "III.3.a", "alert"),
    }

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.arrivals: dict[str, list[tuple[float, str, bool | None]]] = {}  # district → [(t, stage, outcome)]
        self.errors: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, wait: float = 60.0) -> None:
        """Connect (retrying with backoff for at most `wait` seconds) and start reading from the end."""
        deadline = time.monotonic() + wait
        delay = 0.2
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20
            )
            try:
                await consumer.start()
                partitions = await partitions_of(consumer, list(self.WATCH))
                consumer.assign(partitions)
                await consumer.seek_to_end(*partitions)
                for tp in partitions:
                    await consumer.position(tp)
                break
            except (TimeoutError, KafkaError, OSError):
                await consumer.stop()
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(2 * delay, 2.0)
        self._consumer = consumer
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=50, max_records=1000)
            except KafkaError as exc:  # aiokafka reconnects by itself; note the error and keep reading
                self.errors.append(repr(exc))
                await asyncio.sleep(0.5)
                continue
            now = time.perf_counter()
            for tp, records in batches.items():
                for record in records:
                    self.note(tp.topic, record.value, now)

    def note(self, topic: str, value: bytes, now: float) -> None:
        """Record one event's arrival if it is about a toggled target."""
        field, code, stage = self.STAGES[topic]
        # Most records are other indicators' values (~8 per report at 50/s): a record without the code is skipped
        # before decoding, so the bench takes less of the CPU it shares with the system it measures.
        if code.encode() not in value:
            return
        data = json.loads(value)
        unit = data.get("unit_code")
        if data.get(field) == code and unit in DISTRICTS:
            self.arrivals.setdefault(unit, []).append((now, stage, _outcome(stage, data)))

    def first_after(self, district: str, t0: float, stage: str, model: bool) -> float | None:
        """When the first `stage` event about `district` showing the outcome of a toggle to `model` arrived at or
        after `t0`. Matching the outcome, not only the time, matters: an event of the previous toggle can arrive
        after the next one is sent (each alert change is published once per recipient agency), and taking it for
        the new toggle's would release the district early; two toggles then cancel out in one batch and both
        read the next toggle's events, ~10 s later."""
        for t, s, outcome in self.arrivals.get(district, []):
            if s == stage and t >= t0 and outcome in (None, model):
                return t
        return None

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()


async def end_to_end(
    system: System, *, rates: list[int], duration: float, budget: float, profile: bool = False
) -> list[dict[str, Any]]:
    """Open-loop status reports at each rate. One cooperative per district toggles "model cooperative", which
    flips target III.3.a of its district (achieved ↔ missed): indicator value → target status → alert (+ inbox).
    Toggles of a district are closed-loop (the next one waits for the alert of the previous, or 10 s), so each
    observed event belongs to exactly one toggle; the other reports are the background load.

    One collector (Kafka consumer), one HTTP client and the run's one Kafka probe serve every step. Each step is
    guarded: a step that fails is recorded with its error and the next step still runs; a step that no longer
    fits in `budget` seconds is recorded as skipped. Every offered rate gets a row."""
    deadline = time.perf_counter() + budget
    await system.wait_drained(timeout=min(120.0, budget / 4))
    collector = Collector(system.bootstrap)
    await collector.start()
    rng = random.Random(5)
    plain = [c for ids in system.plain.values() for c in ids]
    rows: list[dict[str, Any]] = []
    try:
        async with client_session(system.url("registry"), connections=256, headers=system.auth) as client:
            for rate in rates:
                left = deadline - time.perf_counter()
                if left < duration + 10:
                    rows.append(_failed_step(rate, f"skipped: the end-to-end time budget ({budget:.0f} s) is spent"))
                    print(f"  e2e {rate}/s: SKIPPED ({rows[-1]['error']})", flush=True)
                    continue
                try:
                    rows.append(
                        await _one_rate(
                            system,
                            client,
                            collector,
                            plain,
                            rng,
                            rate,
                            duration,
                            drain_timeout=min(60.0, left - duration),
                            profile=profile,
                        )
                    )
                except Exception as exc:  # noqa: BLE001 - one step's failure must not hide the others
                    rows.append(_failed_step(rate, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
                    print(f"  e2e {rate}/s: FAILED {rows[-1]['error']}", flush=True)
    finally:
        await collector.stop()
    if collector.errors:
        rows[-1]["collector_errors"] = collector.errors[:20]
    return rows


def _failed_step(rate: int, error: str, trace: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"offered_per_s": rate, "error": error, "sustained": False}
    if trace:
        row["traceback"] = trace
    return row


def max_sustained(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's "maximum sustained rate before lag grows without bound": the highest offered rate that was
    sustained, and, as a measured estimate of the pipeline's capacity, the best rate at which a step's reports
    were absorbed end to end (reports ÷ time from the first request until both consumer groups were idle)."""
    measured = [r for r in rows if "error" not in r]
    sustained = [r["offered_per_s"] for r in measured if r["sustained"]]
    absorbed = [r["absorbed_per_s"] for r in measured if r.get("absorbed_per_s")]
    return {
        "max_sustained_offered_per_s": max(sustained) if sustained else None,
        "lowest_offered_per_s": min((r["offered_per_s"] for r in rows), default=None),
        "best_absorbed_per_s": max(absorbed) if absorbed else None,
    }


async def _one_rate(
    system: System,
    client: aiohttp.ClientSession,
    collector: Collector,
    plain: list[str],
    rng: random.Random,
    rate: int,
    duration: float,
    *,
    drain_timeout: float,
    profile: bool,
) -> dict[str, Any]:
    backlog_wait = await system.wait_drained(timeout=drain_timeout)
    if system.sampler:
        system.sampler.mark(f"e2e-{rate}")
    http_latencies: list[float] = []
    http_errors = 0
    toggles: list[dict[str, Any]] = []
    in_flight: set[asyncio.Task[None]] = set()
    busy: dict[str, float] = {}  # district → when its pending toggle was sent
    latest: dict[str, dict[str, Any]] = {}  # district → its last toggle
    max_in_flight = 512

    async def send(coop: str, body: dict[str, Any], toggle: dict[str, Any] | None) -> None:
        nonlocal http_errors
        t0 = time.perf_counter()
        if toggle is not None:
            toggle["sent"] = t0
        refused = False  # an answer other than 201: the report was not stored
        try:
            status = await send_request(client, ("POST", f"/v1/cooperatives/{coop}/status-reports", {"json": body}))
            ok, refused = status == 201, status != 201
        except (aiohttp.ClientError, TimeoutError):
            ok = False  # no answer: the report may still have been stored, so the district's state is unknown
        t1 = time.perf_counter()
        if ok:
            http_latencies.append(t1 - t0)
            if toggle is not None:
                toggle["accepted"] = t1
        else:
            http_errors += 1
            if toggle is not None:
                toggle["failed"] = True
                district = toggle["district"]
                if refused and latest.get(district) is toggle:
                    # Not stored, and no later toggle of the district was sent: it keeps its previous state,
                    # which the next toggle must flip; it is free for that at once.
                    system.toggle_state[district] = not toggle["model"]
                    busy.pop(district, None)

    lag_samples: list[tuple[float, int]] = []
    start = time.perf_counter()
    end = start + duration
    sent = 0

    async def sample_lag() -> None:
        # In its own task, so a slow Kafka answer never delays the open-loop sender.
        while True:
            t = time.perf_counter()
            lag_samples.append((round(t - start, 2), await system.lag("indicators")))
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - t)))

    sampler = asyncio.create_task(sample_lag())
    roles = {proc.pid: name for name, proc in system.procs.items()}
    cpu_before = cpu_seconds_by_process(roles)
    # The hottest path of the end-to-end target: the registry taking reports (py-spy, non-blocking). Only in a
    # repeat of a step: on 2 cores at 200/s the sampler's own CPU raised the step's p99 from ~1 s to ~7 s.
    profiler = (
        Profiler(
            system.procs["registry"].pid, system.profile_dir / f"registry-e2e-{rate}.raw", seconds=int(duration) + 5
        )
        if profile and system.profile_dir
        else None
    )
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        due = start + sent / rate
        if due > now:
            await asyncio.sleep(min(due - now, 0.05))
            continue
        if len(in_flight) >= max_in_flight:
            await asyncio.sleep(0.001)
            continue
        # Settle finished toggles, then pick a district whose last toggle has been seen through.
        for district, t_sent in list(busy.items()):
            if collector.first_after(district, t_sent, "alert", system.toggle_state[district]) is not None or (
                now - t_sent > 10
            ):
                del busy[district]
        ready = [d for d in DISTRICTS if d not in busy]
        toggle: dict[str, Any] | None = None
        if ready and sent % 3 == 0:
            district = rng.choice(ready)
            system.toggle_state[district] = not system.toggle_state[district]
            toggle = {"district": district, "model": system.toggle_state[district]}
            toggles.append(toggle)
            latest[district] = toggle
            busy[district] = now
            coop = system.toggles[district]
            body = status_body(rng, is_model=system.toggle_state[district])
        else:
            coop = plain[rng.randrange(len(plain))]
            body = status_body(rng)
        task = asyncio.create_task(send(coop, body, toggle))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        sent += 1
    offered_seconds = time.perf_counter() - start
    sampler.cancel()
    lag_error = None
    try:
        await sampler
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # noqa: BLE001 - lag samples are context; the step's figures stand without them
        lag_error = f"{type(exc).__name__}: {exc}"
    if in_flight:
        await asyncio.wait(in_flight, timeout=60)
    t_stop = time.perf_counter()
    cpu_after = cpu_seconds_by_process(roles)
    loaded = t_stop - start
    if profiler is not None:
        profiler.stop()
    # Lag after the load stops: how long until both consumer groups are idle again (bounded by the budget).
    drained = await system.wait_drained(timeout=drain_timeout)
    await asyncio.sleep(0.5)
    stages: dict[str, list[float]] = {"value": [], "target_status": [], "alert": []}
    missing = 0
    for toggle in toggles:
        if toggle.get("failed") or "sent" not in toggle:
            continue
        for stage in stages:
            arrived = collector.first_after(str(toggle["district"]), float(toggle["sent"]), stage, toggle["model"])
            if arrived is None:
                if stage == "alert":
                    missing += 1
                continue
            stages[stage].append(arrived - float(toggle["sent"]))
    achieved = sent / offered_seconds
    lag_end = lag_samples[-1][1] if lag_samples else 0
    lag_mid = lag_samples[len(lag_samples) // 2][1] if lag_samples else 0
    sustained = achieved >= 0.95 * rate and drained is not None and (t_stop - start - duration) < 2 and drained < 5
    row: dict[str, Any] = {
        "offered_per_s": rate,
        "achieved_per_s": round(achieved, 1),
        "seconds": round(offered_seconds, 1),
        "reports": sent,
        "http_errors": http_errors,
        "http": latency_summary(http_latencies),
        "toggles": len(toggles),
        "alerts_missing": missing,
        "report_to_value": latency_summary(stages["value"]),
        "report_to_target_status": latency_summary(stages["target_status"]),
        "report_to_alert": latency_summary(stages["alert"]),
        "indicators_lag_samples": lag_samples,
        "lag_mid": lag_mid,
        "lag_end": lag_end,
        "drain_after_stop_s": None if drained is None else round(drained, 2),
        "drain_timeout_s": round(drain_timeout, 1),
        "backlog_wait_before_s": None if backlog_wait is None else round(backlog_wait, 2),
        "absorbed_per_s": None if drained is None else round(sent / (t_stop - start + drained), 1),
        "sustained": sustained,
        # CPU per report while the load ran (the pipeline behind it may still be catching up): where time went.
        "cpu_ms_per_report": cpu_ms_per(cpu_before, cpu_after, sent),
        "cpu_busy_percent": round(
            100 * sum(seconds - cpu_before.get(pid, ("", 0.0))[1] for pid, (_, seconds) in cpu_after.items()) / loaded
        ),
    }
    if lag_error:
        row["lag_sampling_error"] = lag_error
    print(
        f"  e2e {rate}/s: achieved {row['achieved_per_s']}/s, report→alert p50 {row['report_to_alert']['p50_ms']} "
        f"p99 {row['report_to_alert']['p99_ms']} ms ({len(stages['alert'])} samples, {missing} missing), "
        f"drain {row['drain_after_stop_s']} s, sustained={sustained}",
        flush=True,
    )
    return row


# -- 4. scale ---------------------------------------------------------------------------------------------


async def bulk_load_projection(system: System, start: int, count: int, rng: random.Random) -> float:
    """COPY `count` cooperatives (profile + two half-year reports each) into the indicators projection."""
    periods = [("2025-H2", "2025-12-31"), ("2026-H1", "2026-06-30")]
    cooperatives, profiles, snapshots = [], [], []
    now = datetime.now(UTC)
    templates = [status_body(rng) for _ in range(64)]
    for i in range(start, start + count):
        coop = uuid.UUID(int=(0xB0 << 120) + i)
        unit = DISTRICTS[i % len(DISTRICTS)]
        cooperatives.append((coop, 1, f"16{i:08d}", f"HTX Bench {i}", unit, "active", "cultivation", now))
        profiles.append((coop, "0000-H1", unit, "active", "cultivation"))
        for period, as_of in periods:
            body = dict(templates[(i + len(period)) % len(templates)])
            body.update(period=period, as_of=as_of, report_id=str(uuid.uuid4()))
            body["farmland_ha"] = str(Decimal(body["farmland_ha"]))
            snapshots.append(
                (coop, period, uuid.UUID(body["report_id"]), datetime.fromisoformat(as_of).date(), json.dumps(body))
            )
    t0 = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(system.database_url))
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "cooperatives",
                schema_name="indicators",
                records=cooperatives,
                columns=[
                    "cooperative_id",
                    "version",
                    "registration_code",
                    "name",
                    "unit_code",
                    "legal_status",
                    "sector",
                    "changed_at",
                ],
            )
            await conn.copy_records_to_table(
                "profile_history",
                schema_name="indicators",
                records=profiles,
                columns=["cooperative_id", "effective_period", "unit_code", "legal_status", "sector"],
            )
            await conn.copy_records_to_table(
                "status_snapshots",
                schema_name="indicators",
                records=snapshots,
                columns=["cooperative_id", "period", "report_id", "as_of", "data"],
            )
    finally:
        await conn.close()
    return time.perf_counter() - t0


def import_csv(rows: int, rng: random.Random) -> bytes:
    from services.registry.domain.transfer_columns import HEADERS

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for i in range(rows):
        s = status_body(rng)
        writer.writerow(
            [
                registration_code(),
                f"Hợp tác xã Nông nghiệp Nhập {i}",
                DISTRICTS[i % len(DISTRICTS)],
                "Ấp Mỹ Ái, xã Mỹ Khánh",
                "cultivation",
                "2015-03-12",
                "active",
                "Nguyễn Văn Ba",
                "0292 3850 123",
                "",
                s["as_of"],
                s["period"],
                s["members_official"],
                s["members_associate"],
                s["charter_capital_vnd"],
                s["revenue_vnd"],
                s["farmland_ha"],
                s["production_value_vnd"],
                s["classification"],
                "có" if s["is_model"] else "không",
                "có" if s["enterprise_linked"] else "không",
                "",
                "có" if s["high_tech_or_gap"] else "không",
                "",
                "có" if s["ecommerce"] else "không",
                "",
                s["ocop_products"],
                s["managers_total"],
                s["managers_trained"],
                s["managers_female"],
                s["managers_under_35"],
            ]
        )
    return ("\ufeff" + out.getvalue()).encode()


PROJECTION = ("cooperatives", "profile_history", "status_snapshots", "contributions", "aggregates")


async def scale(
    system: System, *, sizes: list[int], import_rows: int, incremental_samples: int, budget: float
) -> list[dict[str, Any]]:
    """At each size, exactly that many cooperatives in the indicators projection: the projection is emptied
    first (the earlier scenarios' cooperatives are not counted), then each size is bulk-loaded up to
    `size − import rows` and the registry import brings it to `size`. Sizes that no longer fit in `budget`
    seconds are recorded as skipped."""
    from services.indicators.db.models import outbox as indicators_outbox
    from services.indicators.domain.engine import IndicatorEngine
    from shared.clock import SystemClock
    from shared.db import create_engine, make_sessionmaker
    from shared.messaging.outbox import Outbox

    rng = random.Random(100)
    engine = create_engine(system.database_url, pool_size=2, application_name="bench-scale")
    sessions = make_sessionmaker(engine)
    indicator_engine = IndicatorEngine(Outbox(indicators_outbox, "indicators"), SystemClock())
    rows: list[dict[str, Any]] = []
    loaded = 0
    deadline = time.perf_counter() + budget
    await system.wait_drained(timeout=min(120.0, budget / 4))
    await system.sql("TRUNCATE " + ", ".join(f"indicators.{t}" for t in PROJECTION))
    try:
        for size in sizes:
            if time.perf_counter() > deadline:
                rows.append({"cooperatives": size, "skipped": f"the scale time budget ({budget:.0f} s) is spent"})
                print(f"  scale {size}: SKIPPED ({rows[-1]['skipped']})", flush=True)
                continue
            phase_start = time.perf_counter()
            await system.wait_drained(timeout=120)
            if system.sampler:
                system.sampler.mark(f"scale-{size}")
            existing = int(await system.sql("SELECT count(*) FROM indicators.cooperatives"))
            to_import = min(import_rows, size // 2)
            to_load = size - existing - to_import
            if to_load < 0:
                raise RuntimeError(f"{existing} cooperatives already in the projection, more than {size}")
            load_seconds = await bulk_load_projection(system, loaded, to_load, rng)
            loaded += to_load
            # Bulk import through the registry API (the rows then flow to indicators like any change).
            content = import_csv(to_import, rng)
            async with httpx.AsyncClient(base_url=system.url("registry"), headers=system.auth, timeout=900) as client:
                t0 = time.perf_counter()
                response = await client.post(
                    "/v1/cooperatives/import", files={"file": ("bench.csv", content, "text/csv")}
                )
                import_seconds = time.perf_counter() - t0
                if response.status_code != 200:
                    raise RuntimeError(f"import failed: {response.status_code} {response.text[:2000]}")
                imported = response.json()
                drained = await system.wait_drained(timeout=max(60.0, deadline - time.perf_counter()))
                # Full recompute, in the indicators service (so its RSS is the one that counts).
                t0 = time.perf_counter()
                recomputed = await client.post(system.url("indicators") + "/v1/recompute")
                recompute_seconds = time.perf_counter() - t0
                recomputed.raise_for_status()
            await system.wait_drained(timeout=300)
            total = int(await system.sql("SELECT count(*) FROM indicators.cooperatives"))
            if total != size:
                raise RuntimeError(f"the projection holds {total} cooperatives, not {size}")
            # Incremental: one status event applied through the engine, as the consumer does, in its own transaction.
            sample_ids = await _sample_cooperatives(system, incremental_samples)
            costs = []
            for coop_id, unit, version in sample_ids:
                event = cooperative_status_event(rng, coop_id, version + 1, unit)
                t0 = time.perf_counter()
                async with sessions() as session, session.begin():
                    await indicator_engine.on_cooperative_statuses(session, [event])
                costs.append(time.perf_counter() - t0)
            await system.wait_drained(timeout=300)
            rss = system.sampler.peaks_mb().get(f"scale-{size}", {}) if system.sampler else {}
            row = {
                "cooperatives": total,
                "bulk_load_seconds": round(load_seconds, 2),
                "import_rows": imported.get("rows"),
                "import_seconds": round(import_seconds, 2),
                "import_rows_per_s": round(to_import / import_seconds, 1),
                "import_to_indicators_drained_s": None if drained is None else round(drained, 2),
                "full_recompute_seconds": round(recompute_seconds, 3),
                "incremental": latency_summary(costs),
                "incremental_mean_ms": round(1000 * sum(costs) / len(costs), 2) if costs else None,
                "recompute_over_incremental": round(recompute_seconds / (sorted(costs)[len(costs) // 2]), 1)
                if costs
                else None,
                "peak_rss_mb": rss,
                "phase_seconds": round(time.perf_counter() - phase_start, 1),
            }
            rows.append(row)
            print(
                f"  scale {total}: incremental p50 {row['incremental']['p50_ms']} ms, full recompute "
                f"{row['full_recompute_seconds']} s (×{row['recompute_over_incremental']}), import "
                f"{row['import_rows_per_s']} rows/s, RSS {rss}",
                flush=True,
            )
    finally:
        await engine.dispose()
    return rows


async def _sample_cooperatives(system: System, n: int) -> list[tuple[uuid.UUID, str, int]]:
    conn = await asyncpg.connect(asyncpg_dsn(system.database_url))
    try:
        rows = await conn.fetch(
            "SELECT cooperative_id, unit_code, version FROM indicators.cooperatives TABLESAMPLE SYSTEM (5) LIMIT $1", n
        )
        if len(rows) < n:
            rows = await conn.fetch(
                "SELECT cooperative_id, unit_code, version FROM indicators.cooperatives ORDER BY random() LIMIT $1", n
            )
        return [(r["cooperative_id"], r["unit_code"], r["version"]) for r in rows]
    finally:
        await conn.close()
