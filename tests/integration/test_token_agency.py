"""A token's agency must be one the service knows and that is active: a well-signed token for a made-up agency
(`UBND-999`) or a deactivated one is refused with 401 before routing, on the registry and on notifications.

The indicators service keeps no agency directory (see `services/indicators/app.py`) and is not covered here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from services.notifications.db.models import Agency as NotificationsAgency
from services.registry.app import create_app as create_registry
from services.registry.db.models import Agency as RegistryAgency
from shared.auth.agencies import CachedAgencyDirectory
from shared.service import Runtime
from tests.integration import notifications_support, registry_support
from tests.integration.apps import running
from tests.integration.notifications_support import started


def refused_for_agency(response: httpx.Response, agency: str) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    body: dict[str, Any] = response.json()
    assert body["agency"] == agency
    assert body["detail"].startswith(f"Cơ quan '{agency}' không tồn tại hoặc không còn hoạt động")
    return body


def directory_of(app: FastAPI) -> CachedAgencyDirectory:
    directory: CachedAgencyDirectory = app.state.agency_directory
    return directory


async def set_active(runtime: Runtime, table: Any, code: str, active: bool) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(update(table).where(table.code == code).values(active=active))


@pytest.fixture
async def registry(isolated_env: dict[str, str]) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_registry(clock=registry_support.clock())
    async with running(app) as client:
        yield app, client


async def test_registry_refuses_an_agency_it_does_not_know_for_reads_exports_and_writes(
    registry: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, api = registry
    ghost = registry_support.auth("UBND-999")
    refused_for_agency(await api.get("/v1/cooperatives", headers=ghost), "UBND-999")
    refused_for_agency(await api.get("/v1/cooperatives/export", headers=ghost), "UBND-999")
    created = await api.post("/v1/cooperatives", json=registry_support.cooperative_body(), headers=ghost)
    refused_for_agency(created, "UBND-999")
    refused_for_agency(await api.get("/v1/no-such-path", headers=ghost), "UBND-999")  # before routing
    listing = await api.get("/v1/cooperatives", headers=registry_support.auth("SNN"))
    assert listing.status_code == 200, listing.text
    assert listing.json()["items"] == []  # the refused create wrote nothing
    assert (await api.get("/v1/cooperatives", headers=registry_support.auth("UBND-916"))).status_code == 200


async def test_registry_refuses_an_agency_deactivated_in_its_table_once_the_cache_expires(
    registry: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, api = registry
    directory = directory_of(app)
    token = registry_support.auth("MTTQ", "registry:read")
    assert (await api.get("/v1/cooperatives", headers=token)).status_code == 200
    await set_active(app.state.runtime, RegistryAgency, "MTTQ", False)
    assert (await api.get("/v1/cooperatives", headers=token)).status_code == 200  # remembered for ttl_seconds
    directory.ttl_seconds = 0
    refused_for_agency(await api.get("/v1/cooperatives", headers=token), "MTTQ")
    await set_active(app.state.runtime, RegistryAgency, "MTTQ", True)
    directory.refusal_ttl_seconds = 0
    assert (await api.get("/v1/cooperatives", headers=token)).status_code == 200  # reactivated: let in again


async def test_notifications_refuses_unknown_and_deactivated_agencies(isolated_env: dict[str, str]) -> None:
    async with started() as service:
        api, directory = service.client, directory_of(service.app)
        ghost = notifications_support.auth("UBND-999")
        refused_for_agency(await service.client.get("/v1/inbox", headers=ghost), "UBND-999")
        refused_for_agency(await service.client.get("/v1/alerts", headers=ghost), "UBND-999")
        known = notifications_support.auth("UBND-926")
        assert (await api.get("/v1/inbox", headers=known)).status_code == 200
        await set_active(service.runtime, NotificationsAgency, "UBND-926", False)
        directory.ttl_seconds = 0
        refused_for_agency(await api.get("/v1/inbox", headers=known), "UBND-926")
        assert (await api.get("/v1/inbox", headers=notifications_support.auth("SNN"))).status_code == 200


class CountingDirectory:
    def __init__(self, active: set[str]) -> None:
        self.active = active
        self.asked: list[str] = []

    async def is_active(self, code: str) -> bool:
        self.asked.append(code)
        return code in self.active


async def test_the_cache_answers_repeat_questions_and_stays_bounded() -> None:
    inner = CountingDirectory({"SNN"})
    directory = CachedAgencyDirectory(inner, max_entries=2)
    assert [await directory.is_active(c) for c in ("SNN", "SNN", "UBND-999", "UBND-999")] == [True, True, False, False]
    assert inner.asked == ["SNN", "UBND-999"]  # one query per code while the answers are fresh
    await directory.is_active("X-1")  # a third code pushes out the least recently used (SNN)
    await directory.is_active("SNN")
    assert inner.asked == ["SNN", "UBND-999", "X-1", "SNN"]
    directory.refusal_ttl_seconds = 0
    await directory.is_active("X-1")  # refusals expire on their own, shorter clock
    assert inner.asked[-1] == "X-1"
