"""One per API process: a LISTEN connection and a reader that fans new stream events out to SSE connections.

It runs only while somebody is connected (the first subscriber starts it, the last one stops it). On every
NOTIFY on `notifications_stream` — and every `stream_poll_seconds` as a safety net for a lost notification or
connection — it sequences newly committed rows (domain/stream.py) and hands each row above its position to
the subscribers that may see it. A subscriber that cannot keep up (queue full) is closed; its client resumes
with `Last-Event-ID` and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.db.models import StreamEvent
from services.notifications.domain.stream import STREAM_CHANNEL, events_after, head, sequence
from shared.db import listen_forever
from shared.errors import DomainError, ServiceUnavailable

log = logging.getLogger(__name__)
QUEUE_SIZE = 1000
BATCH = 500


class TooManyStreams(DomainError):
    status, code, title = 429, "too-many-streams", "Quá nhiều kết nối (too many stream connections)"


@dataclass(eq=False)
class Subscriber:
    agency_code: str
    """Whose connection this is (what the limit counts)."""
    sees_all: bool
    only: str | None
    """For an operator narrowing the stream to one agency."""
    start: int = 0
    queue: asyncio.Queue[StreamEvent | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    closed: bool = False

    def wants(self, event: StreamEvent) -> bool:
        if self.closed:
            return False
        if self.only is not None:
            return event.agency_code == self.only
        return self.sees_all or event.agency_code == self.agency_code


class StreamHub:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        listen_dsn: str,
        *,
        max_per_agency: int,
        poll_seconds: float,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.listen_dsn = listen_dsn
        self.max_per_agency = max_per_agency
        self.poll_seconds = poll_seconds
        self.position = 0
        self._subscribers: set[Subscriber] = set()
        self._per_agency: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._lock = asyncio.Lock()

    async def subscribe(self, agency_code: str, *, sees_all: bool, only: str | None) -> Subscriber:
        if self._per_agency[agency_code] >= self.max_per_agency:
            error = TooManyStreams(
                f"Cơ quan '{agency_code}' đã mở {self.max_per_agency} kết nối luồng sự kiện "
                f"(at most {self.max_per_agency} concurrent streams per agency)",
                limit=self.max_per_agency,
            )
            error.headers["Retry-After"] = "30"
            raise error
        subscriber = Subscriber(agency_code, sees_all, only)
        self._per_agency[agency_code] += 1
        self._subscribers.add(subscriber)
        try:
            async with self._lock:
                if self._task is None or self._task.done():
                    self._started.clear()
                    self._task = asyncio.create_task(self._run(), name="notifications-stream-hub")
            await asyncio.wait_for(self._started.wait(), timeout=30)
            if self._failure is not None:
                raise ServiceUnavailable("Luồng sự kiện tạm thời không sẵn sàng (stream unavailable)")
        except BaseException:
            self.unsubscribe(subscriber)
            raise
        subscriber.start = self.position
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber not in self._subscribers:
            return
        self._subscribers.discard(subscriber)
        self._per_agency[subscriber.agency_code] -= 1
        if self._per_agency[subscriber.agency_code] <= 0:
            del self._per_agency[subscriber.agency_code]
        if not self._subscribers and self._task is not None:
            self._task.cancel()  # nobody listens: release the LISTEN connection
            self._task = None

    async def close(self) -> None:
        """At shutdown: end every open stream (its client reconnects, to another replica or later, with
        Last-Event-ID) and stop reading. Left running, the reader would outlive the service and its LISTEN
        connection would retry for ever against a database that may be gone."""
        for subscriber in list(self._subscribers):
            _end(subscriber)
        self._subscribers.clear()
        self._per_agency.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def connections(self, agency_code: str) -> int:
        return self._per_agency[agency_code]

    # -- the reader ---------------------------------------------------------------------------------------

    async def _run(self) -> None:
        listener = asyncio.create_task(self._listen(), name="notifications-stream-listen")
        try:
            try:
                await self._catch_up(initial=True)
                self._failure = None
            except Exception as exc:
                log.warning("stream hub could not start", exc_info=True)
                self._failure = exc
                return
            finally:
                self._started.set()
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                self._wake.clear()
                try:
                    await self._catch_up()
                except Exception:
                    log.warning("stream read failed; will try again", exc_info=True)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def _catch_up(self, *, initial: bool = False) -> None:
        await sequence(self.sessionmaker)
        async with self.sessionmaker() as session:
            if initial:
                self.position = await head(session)
                return
            while True:
                rows = await events_after(session, self.position, limit=BATCH)
                for row in rows:
                    self._fan_out(row)
                    self.position = row.seq or self.position
                if len(rows) < BATCH:
                    return

    def _fan_out(self, event: StreamEvent) -> None:
        for subscriber in list(self._subscribers):
            if not subscriber.wants(event):
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                log.info("stream subscriber too slow; closing it", extra={"agency": subscriber.agency_code})
                _end(subscriber)

    async def _listen(self) -> None:
        await listen_forever(self.listen_dsn, STREAM_CHANNEL, self._wake, what="notifications stream")


def _end(subscriber: Subscriber) -> None:
    """End a subscriber's stream without dropping anything it was told: empty its queue (none of it was sent
    yet) and leave the end marker, so the client resumes from the last id it really received."""
    while not subscriber.queue.empty():
        subscriber.queue.get_nowait()
    subscriber.queue.put_nowait(None)
    subscriber.closed = True
