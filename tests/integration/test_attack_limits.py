"""Resource limits: page sizes, request bodies, import files, deep or huge JSON, and open event streams per
agency are bounded, and each refusal is a problem+json 4xx that leaves the services healthy."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.pagination import MAX_PAGE_SIZE
from tests.conftest import report
from tests.integration.attack_support import (
    EVERYTHING,
    IMPORT_LIMIT,
    LOG,
    PLAN,
    SAMPLE,
    SCOPES,
    STREAM_LIMIT,
    World,
    attack_world,  # noqa: F401  (pytest finds it as this module's `world`)
    fill_path,
    is_problem,
    named,
    operations,
    paged_operations,
    sheet,
    unique_name,
    upload,
)
from tests.integration.kafka_helpers import eventually
from tests.integration.registry_support import cooperative_body, registration_code

pytestmark = pytest.mark.integration


FILE_PART = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'


async def test_page_size_is_capped_with_a_422_naming_the_field(world: World) -> None:
    checked = 0
    for service, app in world.apps.items():
        for path, maximum in paged_operations(app):
            assert maximum == MAX_PAGE_SIZE, f"{service} {path} documents limit ≤ {maximum}"
            url = fill_path(path, {"cooperative_id": world.coops["926"]["id"]})
            headers = world.token("SNN", EVERYTHING)
            client = world.clients[service]
            for limit in (MAX_PAGE_SIZE + 1, 10**9, 0, -1):
                r = await client.get(url, params={"limit": str(limit)}, headers=headers)
                assert r.status_code == 422 and is_problem(r), (service, path, limit, r.text)
                assert [e["field"] for e in r.json()["errors"]] == ["query.limit"], r.text
            r = await client.get(url, params={"limit": str(MAX_PAGE_SIZE)}, headers=headers)
            assert r.status_code == 200, (service, path, r.text)
            checked += 1
    report(f"[attack] page size: {checked} list endpoints refuse limit > {MAX_PAGE_SIZE} with 422 naming query.limit")


async def test_request_bodies_above_the_limit_get_413(world: World) -> None:
    checked = 0
    for service, app in world.apps.items():
        client = world.clients[service]
        limit = app.state.runtime.settings.max_body_bytes
        has_body = {
            f"{method.upper()} {path}": "requestBody" in item
            for path, methods in app.openapi()["paths"].items()
            for method, item in methods.items()
        }
        for op in operations(app, writes=True):
            method, path = op.split(" ", 1)
            url = fill_path(path, {"cooperative_id": world.coops["926"]["id"], **SAMPLE[service]})
            cap = limit if not url.endswith("/import") else IMPORT_LIMIT + 64 * 1024
            big = b'{"name": "' + b"x" * cap + b'"}'
            r = await client.request(
                method,
                url,
                content=big,
                headers={**world.token("SNN", SCOPES[service]), "Content-Type": "application/json"},
            )
            assert r.status_code == 413 and is_problem(r), (service, op, r.status_code, r.text[:200])

            if not has_body[op]:
                checked += 1
                continue  # no request body: the app never reads one, so a streamed one costs nothing
            multipart = url.endswith("/import")
            media = "multipart/form-data; boundary=xyz" if multipart else "application/json"

            async def chunks(cap: int = cap, multipart: bool = multipart) -> AsyncIterator[bytes]:
                yield FILE_PART if multipart else b'{"name": "'
                for _ in range(cap // 65536 + 2):
                    yield b"x" * 65536
                yield b"\r\n--xyz--\r\n" if multipart else b'"}'

            r = await client.request(
                method, url, content=chunks(), headers={**world.token("SNN", SCOPES[service]), "Content-Type": media}
            )
            assert r.status_code == 413 and is_problem(r), (service, op, "chunked", r.status_code, r.text[:200])
            checked += 1
        assert (await client.get("/healthz")).status_code == 200
    report(
        f"[attack] body size: {checked} write endpoints answer 413 problem+json above the limit (declared or chunked)"
    )


async def test_an_import_file_above_the_limit_gets_413_and_writes_nothing(world: World) -> None:
    name, tag = unique_name()
    content = sheet(registration_code(), name, "926")
    padding = "\n".join("" for _ in range(IMPORT_LIMIT))  # blank lines are skipped: only the size is wrong
    r = await upload(world, "SNN", content + padding.encode() + b"\n")
    assert r.status_code == 413 and is_problem(r), r.text
    assert r.json()["max_bytes"] == IMPORT_LIMIT
    assert await named(world, tag) == 0
    r = await upload(world, "SNN", content + b"\n" * (IMPORT_LIMIT + 128 * 1024))
    assert r.status_code == 413 and is_problem(r), r.text
    r = await upload(world, "SNN", content)
    assert r.status_code == 200 and await named(world, tag) == 1, r.text
    report(f"[attack] import: files above REGISTRY_IMPORT_MAX_BYTES ({IMPORT_LIMIT} B here) get 413, nothing written")


def nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


async def test_deep_and_huge_json_is_refused_cleanly(world: World) -> None:
    targets = {
        "registry": ("POST", "/v1/cooperatives"),
        "notifications": ("POST", "/v1/report-requests"),
        "indicators": ("PUT", f"/v1/plans/{PLAN}"),
    }
    megabyte = "x" * 1_000_000
    refused = 0
    for service, (method, path) in targets.items():
        client = world.clients[service]
        headers = {**world.token("SNN", SCOPES[service]), "Content-Type": "application/json"}
        bodies = [
            nested(10_000, "array"),
            nested(10_000, "object"),
            nested(900, "object"),
            b'"' + megabyte.encode() + b'"',
        ]
        for body in bodies:
            r = await client.request(method, path, content=body, headers=headers)
            assert 400 <= r.status_code < 500 and is_problem(r), (service, len(body), r.status_code, r.text[:300])
            assert len(r.content) < 20_000, "the refusal must not echo the input"
            refused += 1
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/v1/me", headers=world.token("SNN", SCOPES[service]))).status_code == 200
    # A megabyte in a bounded field is named; a list far beyond its bound too.
    huge = [
        ("registry", "POST", "/v1/cooperatives", cooperative_body(name=megabyte), "name"),
        ("registry", "POST", "/v1/cooperatives", cooperative_body(address=megabyte), "address"),
        (
            "notifications",
            "POST",
            "/v1/report-requests",
            {"title": megabyte, "agencies": ["SNN"], "due_on": "2025-12-31"},
            "title",
        ),
        (
            "notifications",
            "POST",
            "/v1/report-requests",
            {"title": "Báo cáo", "agencies": ["SNN"] * 100_000, "due_on": "2025-12-31"},
            "agencies",
        ),
    ]
    for service, method, path, json_body, field_name in huge:
        r = await world.clients[service].request(
            method, path, json=json_body, headers=world.token("SNN", SCOPES[service])
        )
        assert r.status_code == 422 and is_problem(r), (service, field_name, r.status_code, r.text[:300])
        assert field_name in {e["field"] for e in r.json()["errors"]}, r.text[:300]
        assert len(r.content) < 20_000, "the refusal must not echo the input"
        refused += 1
    report(
        f"[attack] deep/huge JSON: {refused} bodies (10,000-deep arrays/objects, 1 MB strings, 100k lists) → 4xx; "
        "services healthy"
    )


async def test_sse_connections_per_agency_are_bounded(world: World) -> None:
    hub_counts = world.notifications_runtime.extras

    async def free() -> bool:
        hub = hub_counts.get("stream_hub")
        return hub is None or hub._per_agency["UBND-926"] == 0

    await eventually(free, within=30, what="no open UBND-926 stream")
    headers = world.token("UBND-926", "notifications:read")
    async with (
        httpx.AsyncClient(base_url=world.notifications_url, timeout=30) as client,
        contextlib.AsyncExitStack() as streams,
    ):
        opened = []
        for _ in range(STREAM_LIMIT):
            r = await streams.enter_async_context(client.stream("GET", "/v1/stream", headers=headers))
            assert r.status_code == 200
            opened.append(r)
        async with client.stream("GET", "/v1/stream", headers=headers) as excess:
            await excess.aread()
            LOG.add("GET /v1/stream (excess)", excess)
            assert excess.status_code == 429 and is_problem(excess), excess.text
            assert excess.headers.get("retry-after"), excess.headers
        async with client.stream("GET", "/v1/stream", headers=world.token("UBND-916", "notifications:read")) as other:
            assert other.status_code == 200  # the limit is per agency
        await opened[0].aclose()

        async def again() -> bool:
            async with client.stream("GET", "/v1/stream", headers=headers) as r:
                if r.status_code != 200:
                    await r.aread()
                return r.status_code == 200

        await eventually(again, within=30, what="a slot given back when a stream closes")
    report(
        f"[attack] SSE: {STREAM_LIMIT} streams per agency (setting lowered for the test); one more → 429 + Retry-After"
    )
