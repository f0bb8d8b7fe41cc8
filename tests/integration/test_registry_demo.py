"""The demo registry seeded at start-up through the domain, on real PostgreSQL and Kafka.

It runs in an isolated environment (a database of its own and a private topic namespace): 155 demo
cooperatives must not show up in other tests' searches and counts, nor their ~1,200 events on their topics.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from services.registry.app import create_app
from services.registry.db.models import Cooperative, CooperativeChange, StatusReport, outbox
from services.registry.seed.generator import generate
from services.registry.seed.loader import seed_demo
from shared.clock import FixedClock
from shared.events import topics
from shared.service import Runtime
from tests.integration.apps import running
from tests.integration.kafka_helpers import eventually, read_topic
from tests.integration.registry_support import auth

pytestmark = pytest.mark.integration

NOW = datetime(2026, 7, 15, 3, 0, tzinfo=UTC)  # 15/07/2026 in Cần Thơ: every report up to 2026-H1 exists


@pytest.fixture
async def seeded(
    isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    monkeypatch.setenv("REGISTRY_SEED_DEMO", "true")  # what `make run` sets
    app = create_app(clock=FixedClock(NOW))
    async with running(app) as http:
        yield app, http


async def test_start_up_seeds_the_demo_through_the_domain_once(
    seeded: tuple[FastAPI, httpx.AsyncClient], isolated_env: dict[str, str]
) -> None:
    app, http = seeded
    runtime: Runtime = app.state.runtime
    demo = generate(today=runtime.clock.today())
    codes = sorted(c.data.registration_code for c in demo.cooperatives)
    reports = sum(len(c.reports) for c in demo.cooperatives)
    topic = isolated_env["HTX_TOPIC_PREFIX"] + topics.COOPERATIVE_STATUS

    async with runtime.sessionmaker() as session:
        rows = {c.registration_code: c for c in await session.scalars(select(Cooperative))}
        assert sorted(rows) == codes
        assert await session.scalar(select(func.count()).select_from(StatusReport)) == reports
        by_action = select(CooperativeChange.action, CooperativeChange.actor, func.count()).group_by(
            CooperativeChange.action, CooperativeChange.actor
        )
        audit = {(action, actor): count for action, actor, count in (await session.execute(by_action)).all()}
        assert audit == {("created", "demo-seed"): len(codes), ("status_reported", "demo-seed"): reports}
        staged = select(func.count()).select_from(outbox).where(outbox.c.topic == topic)
        assert await session.scalar(staged) == len(codes) + reports  # one event per create, one per report
        for coop in demo.cooperatives:  # the current status is the latest report, as generated
            row = rows[coop.data.registration_code]
            assert (row.name, row.unit_code, row.legal_status) == (
                coop.data.name,
                coop.data.unit_code,
                coop.data.legal_status,
            )
            assert (row.classification, row.is_model) == (coop.reports[-1].classification, coop.reports[-1].is_model)
            assert row.version == 1 + len(coop.reports)

    # A restart (or a second replica) finds the registry filled and adds nothing.
    registry = runtime.extras["registry"]
    assert (
        await seed_demo(
            runtime.sessionmaker, registry.cooperatives, registry.status_reports, today=runtime.clock.today()
        )
        == 0
    )
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Cooperative)) == len(codes)
        assert await session.scalar(select(func.count()).select_from(outbox).where(outbox.c.topic == topic)) == (
            len(codes) + reports
        )

    # The relay publishes them all; per cooperative the last event carries its latest version and report.
    async def published() -> bool:
        async with runtime.sessionmaker() as session:
            waiting = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            return await session.scalar(waiting) == 0

    await eventually(published, within=120, what="the relay to publish the demo's outbox rows")
    records = await read_topic(isolated_env["KAFKA_BOOTSTRAP_SERVERS"], topic)
    assert len(records) == len(codes) + reports
    last = {r.key.decode(): json.loads(r.value) for r in sorted(records, key=lambda r: (r.partition, r.offset))}
    assert len(last) == len(codes)
    for coop in demo.cooperatives:
        event = last[str(rows[coop.data.registration_code].id)]
        assert event["version"] == 1 + len(coop.reports)
        assert event["status"]["period"] == coop.reports[-1].period

    # Readable over the API like any registered cooperative.
    sample = next(c for c in demo.cooperatives if c.data.unit_code == "926")
    found = await http.get(
        "/v1/cooperatives",
        params={"q": sample.data.registration_code, "unit": "926"},
        headers=auth(scopes="registry:read"),
    )
    assert found.status_code == 200, found.text
    [item] = found.json()["items"]
    assert item["name"] == sample.data.name
    assert item["latest_status"]["period"] == "2026-H1"
