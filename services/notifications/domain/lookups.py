"""Reference data read once per batch: agencies, their channels, routing rules.

Applying a run of target-status events in one transaction asks the same questions again and again (which
agencies a target routes to, each agency's language, digest mode and enabled channels, whether those
channels work). Within :func:`batch_lookups` the answers are remembered for that session, so each is one
query per batch instead of one per alert. Nothing in that run writes agencies, channels or routing rules, and
the deliveries it adds are pending or held (never `sent`/`failed`, which is what "working" looks at), so the
remembered answers are what the queries would return again. Outside it every lookup queries, as before.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass
class Lookups:
    session: AsyncSession
    agencies: dict[str, Any] = field(default_factory=dict)  # code → Agency | None
    languages: dict[str, str | None] = field(default_factory=dict)  # code → Agency.language
    channels: dict[str, list[Any]] = field(default_factory=dict)  # agency → enabled channels, by id
    working: dict[tuple[uuid.UUID, ...], set[uuid.UUID]] = field(default_factory=dict)
    rules: dict[tuple[str, str], dict[str, tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    stream_notified: bool = False  # PostgreSQL folds identical NOTIFYs of a transaction into one anyway


_current: ContextVar[Lookups | None] = ContextVar("notifications_lookups", default=None)


def lookups_for(session: AsyncSession) -> Lookups | None:
    """The batch's cache when `session` is the batch's session, else None (query as usual)."""
    current = _current.get()
    return current if current is not None and current.session is session else None


@contextlib.contextmanager
def batch_lookups(session: AsyncSession) -> Iterator[Lookups]:
    lookups = Lookups(session)
    token = _current.set(lookups)
    try:
        yield lookups
    finally:
        _current.reset(token)
