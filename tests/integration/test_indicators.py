"""The indicators service on real PostgreSQL and Kafka, fed by a real registry in a namespace of its own.

The numbers are checked against an independent oracle (plain SQL over the registry's tables), against a full
recompute, against a replay into an empty database, and against every event delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy.engine import make_url

from services.indicators.app import create_app as indicators_app
from services.indicators.domain import engine
from services.registry.app import create_app as registry_app
from shared.clock import FixedClock
from shared.events import topics
from shared.infra.stack import Stack
from shared.migrations import upgrade_all
from tests.conftest import DatabaseFactory
from tests.integration.apps import running
from tests.integration.indicators_support import change, oracle
from tests.integration.kafka_helpers import eventually, header, read_topic
from tests.integration.registry_support import auth, cooperative_body, status_body

pytestmark = pytest.mark.integration

NOW = datetime(2025, 7, 15, 3, 0, tzinfo=UTC)  # mid-2025: the plan's deadline (31/12/2025) is ahead
DISTRICTS = ["916", "917", "918", "919", "923", "924", "925", "926", "927"]
UNITS = [*DISTRICTS, "92"]
BASE_INDICATORS = [
    "fair_or_better_share",
    "model_count",
    "members_total",
    "value_per_ha",
    "revenue_per_cooperative",
    "enterprise_linked_share",
    "high_tech_gap_share",
    "ecommerce_share",
    "trained_managers_share",
]
CHANGES = {
    "value_per_ha_change": "value_per_ha",
    "revenue_change": "revenue_per_cooperative",
    "members_change": "members_total",
}
READ = "indicators:read indicators:admin registry:read registry:write"


@dataclass
class System:
    env: dict[str, str]
    registry: httpx.AsyncClient
    indicators: httpx.AsyncClient


@pytest.fixture(scope="module")
async def demo_env(migrated_stack: Stack) -> AsyncIterator[dict[str, str]]:
    """One seeded demo system for the module: seeding and consuming it once is the slow part."""
    name = f"iso_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(migrated_stack.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(migrated_stack.database_url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade_all, url)
    env = {
        "DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": migrated_stack.bootstrap_servers,
        "HTX_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
        "LOG_JSON": "false",
    }
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            yield env
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def demo(demo_env: dict[str, str]) -> AsyncIterator[System]:
    async with system(demo_env, demo=True) as s:
        db = demo_env["DATABASE_URL"]
        await eventually(lambda: caught_up(db), within=300, what="the indicators projection to catch up")
        yield s


@contextlib.asynccontextmanager
async def system(env: dict[str, str], *, demo: bool) -> AsyncIterator[System]:
    clock = FixedClock(NOW)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REGISTRY_SEED_DEMO", "true" if demo else "false")
        reg_app: FastAPI = registry_app(clock=clock)
    ind_app: FastAPI = indicators_app(clock=clock)
    async with running(reg_app) as reg, running(ind_app) as ind:
        yield System(env, reg, ind)


async def caught_up(database_url: str, *, registry_url: str | None = None) -> bool:
    """Every cooperative of the registry is in the indicators projection at its latest version."""
    conn = await asyncpg.connect(registry_url or database_url)
    try:
        expected = {r["id"]: r["version"] for r in await conn.fetch("SELECT id, version FROM registry.cooperatives")}
    finally:
        await conn.close()
    conn = await asyncpg.connect(database_url)
    try:
        seen = {
            r["cooperative_id"]: r["version"]
            for r in await conn.fetch("SELECT cooperative_id, version FROM indicators.cooperatives")
        }
        units = await conn.fetchval("SELECT count(*) FROM indicators.org_units")
    finally:
        await conn.close()
    return bool(expected) and seen == expected and units == 10


async def values(api: httpx.AsyncClient, indicator: str, unit: str) -> dict[str, dict[str, Any]]:
    response = await api.get(f"/v1/indicators/{indicator}/values", params={"unit": unit}, headers=auth("SNN", READ))
    assert response.status_code == 200, response.text
    return {p["period"]: p for p in response.json()["points"]}


async def all_progress(api: httpx.AsyncClient) -> dict[str, Any]:
    result = {}
    for unit in UNITS:
        response = await api.get("/v1/progress", params={"unit": unit}, headers=auth("SNN", READ))
        assert response.status_code == 200, response.text
        result[unit] = response.json()["targets"]
    return result


def _d(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def test_the_demo_registry_gives_exactly_the_oracle_numbers(
    demo: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = demo
    db = s.env["DATABASE_URL"]
    truth = await oracle(db)
    periods = sorted({p for (_, p) in truth})
    compared = 0
    for unit in UNITS:
        for indicator in BASE_INDICATORS:
            series = await values(s.indicators, indicator, unit)
            for period in periods:
                expected = truth.get((unit, period))
                if expected is None:
                    assert period not in series, (indicator, unit, period)
                    continue
                got = series[period]
                assert _d(got["value"]) == expected[indicator], (indicator, unit, period, got, expected)
                assert got["members"] == expected["reported"], (indicator, unit, period)
                compared += 1
    for indicator, base in CHANGES.items():
        series = await values(s.indicators, indicator, "92")
        baseline = truth[("92", "2023-H2")][base]
        for period, point in series.items():
            assert _d(point["value"]) == change(baseline, truth[("92", period)][base]), (indicator, period)
    print(f"\n[indicators] oracle agreed on {compared} values over {len(periods)} periods")  # noqa: T201

    progress = await all_progress(s.indicators)
    latest = max(periods)
    for target in progress["92"]:
        if target["status"] == "qualitative":
            continue
        code = target["target_id"].split(":", 1)[1]
        if code == "III.3.a":
            continue
        indicator = next(
            t
            for t in (await s.indicators.get("/v1/plans/219-KH-UBND/targets", headers=auth("SNN", READ))).json()
            if t["code"] == code
        )["indicator"]
        if indicator in CHANGES:
            base = CHANGES[indicator]
            expected = change(truth[("92", "2023-H2")][base], truth[("92", latest)][base])
        else:
            expected = truth[("92", latest)][indicator]
            assert _d(target["baseline"]) == truth[("92", "2023-H2")][indicator], code
        assert _d(target["current"]) == expected, (code, target)
    for district in DISTRICTS:
        [yes_no] = [t for t in progress[district] if t["target_code"] == "III.3.a"]
        models = truth[(district, latest)]["model_count"]
        assert _d(yes_no["current"]) == models
        assert yes_no["status"] == ("achieved" if models >= 1 else "not_achieved")
        assert yes_no["lead_agency"] == f"UBND-{district}"
    [city_view] = [t for t in progress["92"] if t["target_code"] == "III.3.a"]  # every district, seen from the city
    reached = sum(1 for d in DISTRICTS if truth[(d, latest)]["model_count"] >= 1)
    assert _d(city_view["current"]) == reached
    assert _d(city_view["target"]) == len(DISTRICTS)
    assert city_view["status"] == ("achieved" if reached == len(DISTRICTS) else "not_achieved")
    statuses = {t["target_code"]: t["status"] for t in progress["92"]}
    assert "achieved" in statuses.values() and {"at_risk", "off_track"} & set(statuses.values()), statuses

    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.indicators.workers.recompute",
        "--no-publish",
        env={**os.environ, **s.env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await cli.communicate()
    assert cli.returncode == 0, err.decode()[-2000:]
    [line] = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
    assert line["differences"] == []
    assert line["cooperatives"] > 150

    # In-process, seven cooperatives at a time (the CLI above took them in one batch): the batches' sums add up.
    monkeypatch.setattr(engine, "RECOMPUTE_BATCH", 7)
    recomputed = await s.indicators.post("/v1/recompute", headers=auth("SNN", READ))
    assert recomputed.status_code == 200, recomputed.text
    [report] = recomputed.json()
    assert report["differences"] == []
    assert report["cooperatives"] == line["cooperatives"]
    assert report["values"] > 0
    assert await all_progress(s.indicators) == progress


def _duplicates() -> float:
    return (
        REGISTRY.get_sample_value("htx_events_consumed_total", {"consumer": "indicators", "outcome": "duplicate"})
        or 0.0
    )


async def _indicator_outbox_rows(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM indicators.outbox"))
    finally:
        await conn.close()


async def test_replay_into_an_empty_database_and_double_delivery_change_nothing(
    demo: System, make_database: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = demo
    isolated_env = s.env
    db = isolated_env["DATABASE_URL"]
    original_progress = await all_progress(s.indicators)
    original_values = {(i, u): await values(s.indicators, i, u) for i in BASE_INDICATORS for u in UNITS}

    # 1. Replay the whole topic into an empty indicators database (a new consumer group starts at the beginning).
    replica_db = await make_database()
    monkeypatch.setenv("DATABASE_URL", replica_db)
    monkeypatch.setenv("INDICATORS_CONSUMER_GROUP", "indicators-replay")
    replica = indicators_app(clock=FixedClock(NOW))
    async with running(replica) as rebuilt:
        await eventually(lambda: caught_up(replica_db, registry_url=db), within=240, what="the replay")
        assert await all_progress(rebuilt) == original_progress
        for (indicator, unit), series in original_values.items():
            assert await values(rebuilt, indicator, unit) == {p: v | {} for p, v in series.items()}, (
                indicator,
                unit,
            )

    # 2. Deliver every cooperative event a second time to the original consumer.
    prefix = isolated_env["HTX_TOPIC_PREFIX"]
    bootstrap = isolated_env["KAFKA_BOOTSTRAP_SERVERS"]
    records = await read_topic(bootstrap, prefix + topics.COOPERATIVE_STATUS)
    outbox_before = await _indicator_outbox_rows(db)
    duplicates_before = _duplicates()
    producer = s.registry._transport.app.state.runtime.producer  # type: ignore[attr-defined]
    for record in records:
        await producer.send_and_wait(record.topic, value=record.value, key=record.key, headers=list(record.headers))

    async def all_seen_again() -> bool:
        return _duplicates() - duplicates_before >= len(records)

    await eventually(all_seen_again, within=240, what="every duplicate to be consumed")
    assert await all_progress(s.indicators) == original_progress
    assert {(i, u): await values(s.indicators, i, u) for i in BASE_INDICATORS for u in UNITS} == original_values
    assert await _indicator_outbox_rows(db) == outbox_before  # no new event: nothing changed
    print(f"\n[indicators] replayed and re-delivered {len(records)} events: no change")  # noqa: T201


async def test_a_status_report_over_http_moves_a_target_and_the_event_says_so(isolated_env: dict[str, str]) -> None:
    """End to end: registry HTTP → registry outbox → Kafka → indicators → target-status event on Kafka."""
    async with system(isolated_env, demo=False) as s:
        prefix, bootstrap = isolated_env["HTX_TOPIC_PREFIX"], isolated_env["KAFKA_BOOTSTRAP_SERVERS"]
        created = await s.registry.post("/v1/cooperatives", json=cooperative_body(unit_code="918"), headers=auth())
        assert created.status_code == 201, created.text
        coop_id = created.json()["id"]
        url = f"/v1/cooperatives/{coop_id}/status-reports"
        for period, as_of in (("2023", "2023-12-31"), ("2025-H1", "2025-06-30")):
            r = await s.registry.post(url, json=status_body(period=period, as_of=as_of, is_model=False), headers=auth())
            assert r.status_code == 201, r.text

        target_topic = prefix + topics.TARGET_STATUS

        async def statuses_for_918() -> list[dict[str, Any]]:
            return [
                json.loads(r.value)
                for r in await read_topic(bootstrap, target_topic)
                if json.loads(r.value)["unit_code"] == "918" and json.loads(r.value)["target_code"] == "III.3.a"
            ]

        async def first_status() -> bool:
            return any(e["new_status"] == "not_achieved" for e in await statuses_for_918())

        await eventually(first_status, within=60, what="III.3.a for Bình Thủy to be not achieved")

        # A correction of the 2025-H1 report: the cooperative is now a model cooperative [mô hình điểm].
        r = await s.registry.post(
            url, json=status_body(period="2025-H1", as_of="2025-06-30", is_model=True), headers=auth("UBND-918")
        )
        assert r.status_code == 201, r.text

        async def moved() -> bool:
            return any(e["new_status"] == "achieved" for e in await statuses_for_918())

        await eventually(moved, within=60, what="III.3.a for Bình Thủy to become achieved")
        [event] = [e for e in await statuses_for_918() if e["new_status"] == "achieved"]
        assert event["old_status"] == "not_achieved"
        assert Decimal(event["current"]) == 1
        assert Decimal(event["target"]) == 1
        assert event["lead_agency"] == "UBND-918"
        assert event["coordinating_agencies"] == ["SNN"]
        assert "đã đạt" in event["explanation"].lower()
        records = [r for r in await read_topic(bootstrap, target_topic) if json.loads(r.value) == event]
        assert header(records[0], "ce_type") == "vn.gov.cantho.htx.indicators.target-status.v1"
        # city-wide counts moved too, and only status changes are published (no event per recomputation)
        progress = (await s.indicators.get("/v1/progress", params={"unit": "918"}, headers=auth("SNN", READ))).json()
        assert {t["target_code"]: t["status"] for t in progress["targets"]}["III.3.a"] == "achieved"
        await asyncio.sleep(0)
