"""Helpers for the notifications delivery tests: agencies, channels and alerts in the service's own database,
a real SMTP server, real HTTP servers (webhook receivers, the service itself for SSE) and an SSE reader."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notifications.app import create_app
from services.notifications.db.models import Agency, Alert, Channel, Delivery, DeliveryAttempt
from services.notifications.domain import dispatch
from services.notifications.domain.messages import render
from services.notifications.domain.run import Run
from services.notifications.settings import NotificationsSettings
from shared.auth import mint_token
from shared.clock import FixedClock
from shared.service import Runtime
from shared.settings import AuthSettings
from tests.integration.apps import running

NOW = datetime(2025, 6, 3, 1, 0, tzinfo=UTC)  # 03/06/2025 08:00 in Cần Thơ: seven days before 10/06
SECRET = "bí-mật-webhook-0123456789"
AGENCIES = {
    "SNN": "Sở Nông nghiệp và Phát triển nông thôn",
    "UBND-926": "UBND huyện Phong Điền",
    "UBND-917": "UBND quận Bình Thủy",
    "SCT": "Sở Công Thương",
}
REMINDER = {
    "template": "deadline_reminder",
    "report_kind": "semi_annual",
    "period": "2025-H1",
    "due_on": "2025-06-10",
    "days_left": 7,
    "authority": "SNN",
}


LOOPBACK_RECEIVERS: dict[str, Any] = {"webhook_allowed_networks": ["127.0.0.0/8"], "webhook_allow_http": True}
"""The test's receivers listen on plain http on 127.0.0.1, which the outbound policy refuses by default."""


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FixedClock

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@contextlib.asynccontextmanager
async def started(*, digest: set[str] | None = None, **settings: Any) -> AsyncIterator[Service]:
    """The notifications service on a FixedClock, workers off unless asked, its receivers allow-listed."""
    options: dict[str, Any] = {"run_workers": False, "scheduler_enabled": False, **LOOPBACK_RECEIVERS, **settings}
    clock = FixedClock(NOW)
    app = create_app(settings=NotificationsSettings(**options), clock=clock)
    async with running(app) as client:
        service = Service(app, client, clock)
        await seed_agencies(service.runtime, digest=digest)
        yield service


def auth(agency: str, scopes: str = "notifications:read notifications:write") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(AuthSettings(), agency=agency, scopes=scopes)}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed_agencies(runtime: Runtime, *, digest: set[str] | None = None) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        for code, name in AGENCIES.items():
            session.add(
                Agency(
                    code=code,
                    name=name,
                    kind="department" if code[0] == "S" else "district_committee",
                    jurisdiction_unit_code="92" if code[0] == "S" else code[-3:],
                    active=True,
                    version=1,
                    language="vi",
                    digest=code in (digest or set()),
                )
            )


async def add_channel(runtime: Runtime, agency: str, kind: str, address: str, *, language: str = "vi") -> uuid.UUID:
    channel_id = uuid.uuid4()
    async with runtime.sessionmaker() as session, session.begin():
        session.add(
            Channel(
                id=channel_id,
                agency_code=agency,
                kind=kind,
                address=address,
                secret=SECRET if kind == "webhook" else None,
                enabled=True,
                language=language,
                created_at=NOW,
            )
        )
    return channel_id


async def raise_alert(runtime: Runtime, agency: str, at: datetime, **data: Any) -> Alert:
    """An alert row and its `opened` notice, in one transaction (as the alert lifecycle code does)."""
    content = {**REMINDER, **data}
    text = render(content, "vi")
    async with runtime.sessionmaker() as session, session.begin():
        alert = Alert(
            id=uuid.uuid4(),
            dedup_key=f"test|{uuid.uuid4()}",
            kind="deadline_reminder",
            role="owner",
            agency_code=agency,
            state="open",
            severity="warning",
            title=text.title,
            body=text.body,
            data=content,
            opened_at=at,
            updated_at=at,
            notify_count=0,
            version=1,
        )
        session.add(alert)
        run = Run(session)
        await dispatch.notify(run, alert, "opened", at)
        await run.write()
    return alert


async def deliveries_of(runtime: Runtime, alert_id: uuid.UUID) -> list[Delivery]:
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(Delivery).where(Delivery.alert_id == alert_id))).all())


async def attempts_of(runtime: Runtime, delivery_id: uuid.UUID) -> list[DeliveryAttempt]:
    async with runtime.sessionmaker() as session:
        query = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
        return list((await session.scalars(query.order_by(DeliveryAttempt.attempt))).all())


# -- a real SMTP server ------------------------------------------------------------------------------------


class MailBox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook)
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def about(self, text: str) -> list[EmailMessage]:
        """Messages whose plain-text body mentions `text` (the alert id is in every notice's footer)."""
        return [message for message in list(self.messages) if text in plain_text(message)]


def plain_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    return "" if part is None else str(part.get_content())


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[MailBox, int]]:
    """aiosmtpd on 127.0.0.1 (its own thread and loop), accepting everything into a MailBox."""
    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, int(controller.port)
    finally:
        controller.stop()


# -- real HTTP servers -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free port of 127.0.0.1 (no lifespan: the caller runs it)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@dataclass
class Receiver:
    """A webhook endpoint that answers with the scripted statuses, then with the last one forever."""

    statuses: list[int]
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        status = self.statuses[min(len(self.requests), len(self.statuses) - 1)]
        self.requests.append((dict(request.headers), body, status))
        return Response(status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks/htx", self.endpoint, methods=["POST"])])


# -- an SSE reader -----------------------------------------------------------------------------------------


@dataclass
class SseEvent:
    id: str
    event: str
    data: dict[str, Any]


class SseClient:
    """Reads `text/event-stream` from a live HTTP response, event by event (comments are heartbeats)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, wait: float = 10.0) -> SseEvent:
        fields: dict[str, str] = {}
        async with asyncio.timeout(wait):
            async for line in self._lines:
                if line.startswith(":"):
                    continue
                if line == "":
                    if "data" in fields:
                        return SseEvent(
                            fields.get("id", ""), fields.get("event", "message"), json.loads(fields["data"])
                        )
                    continue
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value
        raise AssertionError("the stream ended")


@contextlib.asynccontextmanager
async def sse(base_url: str, headers: dict[str, str]) -> AsyncIterator[SseClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(30.0)) as client:
        async with client.stream("GET", "/v1/stream", headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            yield SseClient(response)
