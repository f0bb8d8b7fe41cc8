"""What the end-to-end test runs beside the services: an SMTP server, a webhook receiver and an SSE reader.

Only public interfaces: SMTP, HTTP and `text/event-stream`. Nothing here imports service code — the
receivers stand where an agency's mail server, its e-government system and its dashboard would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.system.processes import System

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
T = TypeVar("T")


def documented_verifier() -> Callable[..., bool]:
    """The verification snippet of docs/webhooks.md, executed exactly as printed there."""
    snippet = re.search(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert snippet is not None, "docs/webhooks.md lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), str(DOCS), "exec"), namespace)
    verify: Callable[..., bool] = namespace["verify_htx_webhook"]
    return verify


def log_tails(system: System, lines: int = 40) -> str:
    return "\n".join(f"--- {p.label} (last {lines} lines of {p.log_path}) ---\n{p.log_tail(lines)}" for p in system)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, system: System, within: float = 60.0, every: float = 0.25
) -> T:
    """Poll `probe` until it returns something truthy; fail with the services' log tails after `within` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            result = await probe()
        except (httpx.HTTPError, AssertionError) as exc:
            result, last = None, exc
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f}s: {what} (last: {last!r})\n{log_tails(system)}")
        await asyncio.sleep(every)


# -- an agency's e-government system (webhook endpoint) ----------------------------------------------------


@dataclass
class Hook:
    headers: httpx.Headers
    body: bytes
    received_at: float

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1 that records every POST and answers 204."""

    requests: list[Hook] = field(default_factory=list)
    url: str = ""

    @contextlib.contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's hook)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(Hook(httpx.Headers(dict(self.headers.items())), body, time.monotonic()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/htx"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)

    def about(self, alert_id: str) -> list[Hook]:
        return [h for h in list(self.requests) if h.event.get("alert", {}).get("alert_id") == alert_id]


# -- a dashboard (server-sent events) ----------------------------------------------------------------------


@dataclass
class SseEvent:
    id: int
    event: str
    data: dict[str, Any]
    received_at: float


@dataclass
class StreamWatcher:
    """Reads `GET /v1/stream` in the background, reconnecting with `Last-Event-ID` as a browser would."""

    url: str
    headers: dict[str, str]
    events: list[SseEvent] = field(default_factory=list)
    connections: int = 0
    task: asyncio.Task[None] | None = None

    def start(self) -> StreamWatcher:
        self.task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def about(self, alert_id: str) -> list[SseEvent]:
        return [e for e in list(self.events) if e.data.get("alert_id") == alert_id]

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0)) as client:
            while True:
                headers = dict(self.headers)
                if self.events:
                    headers["Last-Event-ID"] = str(self.events[-1].id)
                try:
                    async with client.stream("GET", f"{self.url}/v1/stream", headers=headers) as response:
                        if response.status_code != 200:
                            raise AssertionError(f"stream answered {response.status_code}: {await response.aread()!r}")
                        self.connections += 1
                        fields: dict[str, str] = {}
                        async for line in response.aiter_lines():
                            if line.startswith(":"):
                                continue  # heartbeat
                            if line == "":
                                if "data" in fields:
                                    self.events.append(
                                        SseEvent(
                                            int(fields.get("id", "0")),
                                            fields.get("event", "message"),
                                            json.loads(fields["data"]),
                                            time.monotonic(),
                                        )
                                    )
                                fields = {}
                                continue
                            name, _, value = line.partition(":")
                            fields[name] = value[1:] if value.startswith(" ") else value
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
