"""Per-agency limits on writes and on requests that notify another party, shared by every replica (429 +
Retry-After). Each test has a database of its own: the windows are the database's real minutes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared.db import asyncpg_dsn
from tests.integration import notifications_support
from tests.integration.apps import running
from tests.integration.registry_support import auth, clock, cooperative_body

pytestmark = pytest.mark.integration

LIMIT = 5


async def start_of_a_window(database_url: str) -> None:
    """Wait out the last seconds of the database's minute, so a test's requests share one window."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        second = await conn.fetchval("SELECT extract(second FROM now())")
    finally:
        await conn.close()
    if second > 45:
        await asyncio.sleep(61 - float(second))


def assert_limited(response: httpx.Response, limit: int, bucket: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    body = response.json()
    assert body["limit"] == limit and body["bucket"] == bucket, body
    assert f"{limit}" in body["detail"]


@contextlib.asynccontextmanager
async def two_registry_replicas() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    settings: dict[str, Any] = {"write_limit_per_minute": LIMIT, "seed_demo": False}
    first = create_app(settings=RegistrySettings(**settings), clock=clock())
    second = create_app(settings=RegistrySettings(**settings), clock=clock())
    async with running(first) as a, running(second) as b:
        yield a, b


async def test_the_sixth_write_of_an_agency_in_a_minute_gets_429_on_any_replica(isolated_env: dict[str, str]) -> None:
    await start_of_a_window(isolated_env["DATABASE_URL"])
    async with two_registry_replicas() as (a, b):
        for replica in (a, b, a, b, a):  # five writes, spread over both replicas
            created = await replica.post("/v1/cooperatives", json=cooperative_body(), headers=auth("SNN"))
            assert created.status_code == 201, created.text

        refused = await b.post("/v1/cooperatives", json=cooperative_body(), headers=auth("SNN"))
        assert_limited(refused, LIMIT, "writes")
        coop_id = (await a.get("/v1/cooperatives", headers=auth("SNN"))).json()["items"][0]["id"]
        report = await a.post(f"/v1/cooperatives/{coop_id}/status-reports", json={}, headers=auth("SNN"))
        assert_limited(report, LIMIT, "writes")  # every write counts against the same limit, refused first

        other = await b.post("/v1/cooperatives", json=cooperative_body(unit_code="926"), headers=auth("UBND-926"))
        assert other.status_code == 201, other.text  # another agency is unaffected
        read = await a.get("/v1/cooperatives", headers=auth("SNN"))
        assert read.status_code == 200  # reads are not limited


async def test_self_addressed_report_requests_are_limited_per_agency(isolated_env: dict[str, str]) -> None:
    await start_of_a_window(isolated_env["DATABASE_URL"])
    body = {"title": "Báo cáo đột xuất", "agencies": ["UBND-926"], "due_on": "2025-10-01"}
    async with notifications_support.started(notify_limit_per_minute=2) as svc:
        for _ in range(2):
            created = await svc.client.post(
                "/v1/report-requests", json=body, headers=notifications_support.auth("UBND-926")
            )
            assert created.status_code == 201, created.text
        refused = await svc.client.post(
            "/v1/report-requests", json=body, headers=notifications_support.auth("UBND-926")
        )
        assert_limited(refused, 2, "notify")

        own = {**body, "agencies": ["UBND-917"]}
        other = await svc.client.post("/v1/report-requests", json=own, headers=notifications_support.auth("UBND-917"))
        assert other.status_code == 201, other.text
