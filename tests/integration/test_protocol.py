"""HTTP protocol hygiene of the shared plumbing: request ids, errors, redirects, `Allow`, request bounds.

The app here is the plumbing every service installs (`RequestContextMiddleware` and the problem handlers) around
a few routes, so each rule is shown without a database; `test_service_foundation` shows it on the real services.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Request

from shared.errors import install_error_handlers
from shared.web import MAX_HEADER_BYTES, MAX_HEADER_COUNT, RequestContextMiddleware


def plumbed_app(*, body_timeout_seconds: float = 60.0) -> FastAPI:
    app = FastAPI(docs_url="/docs", redoc_url=None)
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware, service="test", max_body_bytes=4096, body_timeout_seconds=body_timeout_seconds
    )
    router = APIRouter()

    @router.get("/things")
    async def list_things() -> list[str]:
        return []

    @router.post("/things")
    async def create_thing(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.include_router(router, prefix="/x")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    return app


@contextlib.asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=True (the default): an exception escaping the app fails the test.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[int]:
    """The app under a real uvicorn on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(5):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
                await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def test_an_unexpected_error_is_a_500_problem_with_the_request_id() -> None:
    async with client(plumbed_app()) as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "a bug" not in response.text


async def test_a_500_leaves_the_kept_alive_connection_open() -> None:
    request = b"GET /boom HTTP/1.1\r\nHost: localhost\r\n\r\n"
    async with served(plumbed_app()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(2):  # the second request goes over the same connection
                writer.write(request)
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
                assert head.startswith(b"HTTP/1.1 500"), head
                assert b"connection: close" not in head.lower()
                length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
        finally:
            writer.close()


async def test_the_server_assigns_the_request_id_and_keeps_the_clients_beside_it() -> None:
    async with client(plumbed_app()) as http:
        response = await http.get("/x/things", headers={"x-request-id": "req-42"})
        sanitised = await http.get("/x/things", headers={"x-request-id": "a b\tc" + "x" * 100})
        blank = await http.get("/x/things", headers={"x-request-id": " "})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.headers["x-client-request-id"] == "req-42"
    assert sanitised.headers["x-client-request-id"] == "abc" + "x" * 59  # visible ASCII of the first 64
    assert "x-client-request-id" not in blank.headers


@pytest.mark.parametrize("path", ["/docs/", "//evil.example/docs/", "/x/things/"])
async def test_no_redirect_takes_its_host_from_the_request(path: str) -> None:
    async with client(plumbed_app()) as http:
        response = await http.get(path, headers={"host": "evil.example"})
    location = response.headers.get("location")
    if location is not None:
        assert location.startswith("/") and not location.startswith("//"), location
        assert "evil.example" not in location.split("?")[0].lstrip("/").split("/")[0], location


async def test_a_405_names_every_method_the_path_serves() -> None:
    async with client(plumbed_app()) as http:
        response = await http.delete("/x/things")
        docs = await http.post("/docs")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert docs.status_code == 405
    assert docs.headers["allow"] == "GET, HEAD"


async def test_too_many_or_too_large_headers_get_a_431() -> None:
    many = [(f"x-h{i}", "1") for i in range(MAX_HEADER_COUNT + 1)]
    large = {"authorization": "Bearer " + "a" * MAX_HEADER_BYTES}
    async with client(plumbed_app()) as http:
        for headers in (many, large):
            response = await http.get("/v1/anything", headers=headers)
            assert response.status_code == 431, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.headers["connection"] == "close"
        assert (await http.get("/x/things", headers=[(f"x-h{i}", "1") for i in range(50)])).status_code == 200


async def test_a_body_that_does_not_arrive_in_time_gets_a_408() -> None:
    app = plumbed_app(body_timeout_seconds=0.2)
    sent: list[dict[str, object]] = []
    first = True

    async def receive() -> dict[str, object]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"{", "more_body": True}
        await asyncio.sleep(3600)  # the rest never comes
        raise AssertionError

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/x/things",
        "raw_path": b"/x/things",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=5)  # type: ignore[arg-type]
    assert sent[0]["status"] == 408
