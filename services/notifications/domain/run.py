"""A run: the alert changes of one unit of work in a transaction, and the notices and events they produce.

Whoever changes alerts — a consumer handler, a scheduled notice, an API call, the delivery worker's fallback —
makes a `Run` on its session, passes it to the functions that change alerts or record notices, and calls
`write` once at the end. Until then alerts change in memory and their notices (inbox, stream, deliveries) and
`AlertV1` events are staged on the run; `write` flushes the alerts, then writes each table's rows in one
statement in the order staged, then the outbox rows. So a change of one alert and a run of hundreds of
target-status events take the same path, and the larger one costs a handful of statements, not a dozen per
alert.

The run also remembers the reference data its notices ask for again and again (agencies, their enabled
channels and whether those work, routing rules). Nothing inside a run writes agencies, channels or routing
rules, and the deliveries it adds are pending or held (never `sent`/`failed`, which is what "working" looks
at), so a remembered answer is the one the query would give again.

A run of target-status events also holds its working set in `open` (domain/targets.py `preload`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Agency, Alert, Base, Channel
from shared.events.contracts import EventPayload
from shared.messaging.outbox import Outbox

Rules = dict[str, tuple[str, tuple[str, ...]]]
"""A target's routing rules that apply to one unit: unit code (or `*`) → (lead, coordinating)."""


@dataclass
class OpenAlerts:
    """The open (or acknowledged) alerts of some (target, unit) pairs, locked, indexed by kind and dedup key.

    Kept exact while a run applies its events: `remember` a newly opened alert, `forget` a resolved one. Nothing
    else opens alerts for these pairs meanwhile (target alerts are keyed by target and unit, and every event of a
    pair is on one partition; the scheduler's deadline alerts for a target lock the same rows, or — for a new
    one — fail the one-open-per-key index when the run is written, which rolls the transaction back).
    """

    pairs: set[tuple[str, str]] = field(default_factory=set)  # a run without a working set holds none
    by_pair: dict[tuple[str, str, str], dict[str, Alert]] = field(default_factory=dict)  # (kind, target, unit) → key

    def holds(self, target_id: str | None, unit_code: str | None) -> bool:
        return (target_id, unit_code) in self.pairs

    def of(self, kind: str, target_id: str, unit_code: str) -> list[Alert]:
        """Same rows, same order as a query of the open alerts would give: by opening time, then id."""
        alerts = self.by_pair.get((kind, target_id, unit_code), {})
        return sorted(alerts.values(), key=lambda a: (a.opened_at, a.id))

    def find(self, kind: str, target_id: str, unit_code: str, dedup_key: str) -> Alert | None:
        return self.by_pair.get((kind, target_id, unit_code), {}).get(dedup_key)

    def remember(self, alert: Alert) -> None:
        assert alert.target_id is not None and alert.unit_code is not None
        self.by_pair.setdefault((alert.kind, alert.target_id, alert.unit_code), {})[alert.dedup_key] = alert

    def forget(self, alert: Alert) -> None:
        if alert.target_id is not None and alert.unit_code is not None:
            self.by_pair.get((alert.kind, alert.target_id, alert.unit_code), {}).pop(alert.dedup_key, None)


@dataclass
class Run:
    """One unit of alert changes on `session` (module docstring): made by the caller, written by `write`."""

    session: AsyncSession
    open: OpenAlerts = field(default_factory=OpenAlerts)
    agencies: dict[str, Agency | None] = field(default_factory=dict)  # code → agency (None: unknown)
    channels: dict[str, list[Channel]] = field(default_factory=dict)  # agency → enabled channels, by id
    working: dict[tuple[uuid.UUID, ...], set[uuid.UUID]] = field(default_factory=dict)  # channel ids → working
    rules: dict[tuple[str, str], Rules] = field(default_factory=dict)  # (target code, unit) → rules
    stream_notified: bool = False
    staged: dict[type[Base], list[dict[str, Any]]] = field(default_factory=dict)  # model → rows, in order
    events: dict[Outbox, list[dict[str, Any]]] = field(default_factory=dict)  # outbox → rows, in order

    def stage(self, model: type[Base], row: dict[str, Any]) -> None:
        self.staged.setdefault(model, []).append(row)

    def publish(self, outbox: Outbox, payload: EventPayload, at: datetime) -> None:
        self.events.setdefault(outbox, []).extend(outbox.rows_for([payload], occurred_at=at))

    async def write(self) -> None:
        """The alerts first (one flush; the one-open-per-key index is checked here), then the rows naming them."""
        await self.session.flush()
        staged, self.staged = self.staged, {}
        for model, rows in staged.items():
            await self.session.execute(insert(model), rows)
        events, self.events = self.events, {}
        for outbox, rows in events.items():
            await outbox.insert_rows(self.session, rows)
