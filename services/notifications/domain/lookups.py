"""Reference data read once per batch: agencies, their channels, routing rules.

Applying a run of target-status events in one transaction asks the same questions again and again (which
agencies a target routes to, each agency's language, digest mode and enabled channels, whether those
channels work). Within :func:`batch_lookups` the answers are remembered for that session, so each is one
query per batch instead of one per alert. Nothing in that run writes agencies, channels or routing rules, and
the deliveries it adds are pending or held (never `sent`/`failed`, which is what "working" looks at), so the
remembered answers are what the queries would return again. Outside it every lookup queries, as before.

A run of target-status events also keeps its *working set* here (`OpenAlerts`, the target states' versions,
the staged outbox rows): read and locked once at the start (domain/targets.py `preload`), kept up to date in
memory while the events are applied in order, and written once at the end — so the run costs a handful of
statements instead of a dozen per event.
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
    open: OpenAlerts | None = None  # the run's open alerts, once `preload` has read them
    state_versions: dict[tuple[str, str], int] = field(default_factory=dict)  # (target, unit) → newest version
    latest_states: dict[tuple[str, str], Any] = field(default_factory=dict)  # (target, unit) → newest event
    staged: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)  # model → notice rows (inbox, stream…)
    outbox_rows: list[dict[str, Any]] = field(default_factory=list)  # staged, written in this order at the end

    @property
    def deferred(self) -> bool:
        """Writes wait for the end of the run (no flush per alert): set once the working set is loaded."""
        return self.open is not None


@dataclass
class OpenAlerts:
    """The open (or acknowledged) alerts of some (target, unit) pairs, locked, indexed by kind and dedup key.

    Kept exact while a run applies its events: `remember` a newly opened alert, `forget` a resolved one. Nothing
    else opens alerts for these pairs meanwhile (target alerts are keyed by target and unit, and every event of a
    pair is on one partition; the scheduler's deadline alerts for a target lock the same rows, or — for a new
    one — fail the one-open-per-key index at the final flush, which rolls the run back to one event at a time).
    """

    pairs: set[tuple[str, str]]
    by_pair: dict[tuple[str, str, str], dict[str, Any]] = field(
        default_factory=dict
    )  # (kind, target, unit) → key → Alert

    def holds(self, target_id: str | None, unit_code: str | None) -> bool:
        return (target_id, unit_code) in self.pairs

    def of(self, kind: str, target_id: str, unit_code: str) -> list[Any]:
        """Same rows, same order as the `open_alerts` query: by opening time, then id."""
        alerts = self.by_pair.get((kind, target_id, unit_code), {})
        return sorted(alerts.values(), key=lambda a: (a.opened_at, a.id))

    def find(self, kind: str, target_id: str, unit_code: str, dedup_key: str) -> Any | None:
        return self.by_pair.get((kind, target_id, unit_code), {}).get(dedup_key)

    def remember(self, alert: Any) -> None:
        self.by_pair.setdefault((alert.kind, alert.target_id, alert.unit_code), {})[alert.dedup_key] = alert

    def forget(self, alert: Any) -> None:
        self.by_pair.get((alert.kind, alert.target_id, alert.unit_code), {}).pop(alert.dedup_key, None)


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
