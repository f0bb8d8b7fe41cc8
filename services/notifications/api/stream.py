"""`GET /v1/stream`: server-sent events for dashboards — the caller's agency, or every agency for operators.

Each event is one `StreamEvent`: `id:` its stream position, `event:` e.g. `alert.opened`, `data:` JSON. A
client that reconnects with `Last-Event-ID` (browsers' EventSource do this by themselves) first receives every
event after that id, then live ones. Comment lines (`: ping`) keep proxies from closing an idle stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from services.notifications.api.stream_hub import StreamHub, Subscriber
from services.notifications.db.models import StreamEvent
from services.notifications.domain.access import READ, is_operator
from services.notifications.domain.stream import events_after, head
from services.notifications.settings import settings_of
from shared.auth import Principal, require_scope
from shared.db import asyncpg_dsn
from shared.errors import Forbidden, ValidationFailed
from shared.service import Runtime, get_runtime
from shared.text import AGENCY_CODE

router = APIRouter(tags=["stream"])
RECONNECT_MS = 3000
EXAMPLE = (
    "id: 42\n"
    "event: alert.opened\n"
    'data: {"alert_id": "0b5e…", "agency_code": "UBND-926", "notice": "opened", "state": "open", '
    '"title": "Cảnh báo chỉ tiêu II.2.a (đơn vị 926): có nguy cơ không đạt", "fallback_for": null, …}\n\n'
    ": ping - 2025-07-15 03:00:15+00:00\n\n"
)


def hub_of(runtime: Runtime) -> StreamHub:
    hub = runtime.extras.get("stream_hub")
    if not isinstance(hub, StreamHub):
        cfg = settings_of(runtime)
        hub = StreamHub(
            runtime.sessionmaker,
            asyncpg_dsn(cfg.database_url),
            max_per_agency=cfg.stream_max_connections_per_agency,
            poll_seconds=cfg.stream_poll_seconds,
        )
        runtime.extras["stream_hub"] = hub
    return hub


async def close_stream(runtime: Runtime) -> None:
    """Shutdown hook: end the open streams and stop the hub's reader (`StreamHub.close`)."""
    hub = runtime.extras.pop("stream_hub", None)
    if isinstance(hub, StreamHub):
        await hub.close()


@router.get(
    "/stream",
    summary="Luồng sự kiện cảnh báo (server-sent events)",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {"example": EXAMPLE}}, "description": "An endless event stream"},
        401: {},
        403: {"description": "`agency` names another agency and the caller is not an operator"},
        422: {"description": "`Last-Event-ID` is not a non-negative integer"},
        429: {"description": "Too many concurrent streams for the caller's agency (problem+json, Retry-After)"},
    },
)
async def stream(
    agency: str | None = Query(
        None,
        description="Operators only: narrow the stream to one agency",
        examples=["UBND-926"],
        max_length=30,
        pattern=AGENCY_CODE,
    ),
    last_event_id: str | None = Header(
        None, alias="Last-Event-ID", pattern=r"^\s*[0-9]+\s*$", max_length=20, description="Resume after this event id"
    ),
    resume_after: int | None = Query(
        None, ge=0, description="Same as `Last-Event-ID`, for clients that cannot set headers", examples=[41]
    ),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(READ)),
) -> EventSourceResponse:
    operator = is_operator(principal)
    if agency is not None and agency != principal.agency and not operator:
        raise Forbidden(
            "Chỉ người vận hành được xem luồng của cơ quan khác (operators only)",
            errors=[{"field": "query.agency", "message": f"only {principal.agency!r} without notifications:operator"}],
        )
    after = _parse_last_event_id(last_event_id) if last_event_id is not None else resume_after
    cfg = settings_of(runtime)
    hub = hub_of(runtime)
    clamped = None if after is None else await _clamped(runtime, after)  # before taking a connection slot
    subscriber = await hub.subscribe(
        principal.agency, sees_all=operator and agency is None, only=agency if operator else None
    )
    start = subscriber.start if clamped is None else clamped
    return _Stream(_events(runtime, subscriber, start), hub, subscriber, ping=cfg.stream_heartbeat_seconds)


async def _clamped(runtime: Runtime, after: int) -> int:
    """An id beyond the log's head (a client of a rebuilt database) resumes from the head, not from nowhere."""
    async with runtime.sessionmaker() as session:
        return min(after, await head(session))


def _parse_last_event_id(value: str) -> int:
    if not value.strip().isdigit():
        raise ValidationFailed(
            "Last-Event-ID không hợp lệ (invalid Last-Event-ID)",
            errors=[{"field": "header.Last-Event-ID", "message": "must be an event id this stream sent"}],
        )
    return int(value.strip())


async def _events(runtime: Runtime, subscriber: Subscriber, after: int) -> AsyncIterator[ServerSentEvent]:
    last = after
    narrowed = None if subscriber.sees_all else (subscriber.only or subscriber.agency_code)
    while True:  # first what the client missed, straight from the log …
        async with runtime.sessionmaker() as session:
            missed = await events_after(session, last, agency_code=narrowed)
        for row in missed:
            last = row.seq or last
            yield _sse(row)
        if len(missed) < 500:
            break
    while True:  # … then live events; the hub may hand over some the catch-up already sent
        live = await subscriber.queue.get()
        if live is None:
            return  # too slow: closing lets the client resume where it is
        if live.seq is not None and live.seq > last:
            last = live.seq
            yield _sse(live)


def _sse(row: StreamEvent) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(row.data, ensure_ascii=False), event=row.event, id=str(row.seq), retry=RECONNECT_MS
    )


class _Stream(EventSourceResponse):
    """Gives the connection slot back however the response ends (even if the generator never started)."""

    def __init__(self, content: AsyncIterator[ServerSentEvent], hub: StreamHub, subscriber: Subscriber, ping: float):
        super().__init__(content, ping=ping, headers={"Cache-Control": "no-store"})
        self._hub, self._subscriber = hub, subscriber

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._hub.unsubscribe(self._subscriber)
