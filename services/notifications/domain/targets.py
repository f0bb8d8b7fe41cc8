"""Target-status events → target alerts (`indicators.target-status.v1`).

Events are applied in version order per (target, unit): the `target_states` row keeps the latest version
seen, and an older or repeated version changes nothing (the consumer's inbox already drops exact duplicates;
this drops a late, older event too). A move into a risk status opens — or updates — one alert per routed
agency; a move back to on_track / achieved resolves them; anything else (insufficient data, qualitative)
leaves them as they are.

Every target-status event the consumer hands over is applied as part of a run (`apply_run`; a single event is
a run of one): the run's working set is read and locked once (`preload`), the events are applied in memory in
arrival order, and everything they change is written once at the end (`TargetRun.write`).

A run of events fetched together is *coalesced*: of each (target, unit)'s events in the run,
the newest is acted on, and an earlier one only when it closes something that is open at that point (a move
to on_track/achieved with a risk alert open, to achieved/missed with a deadline alert open). Under a backlog
the same target can have moved several times before the service reads it (it flapped, or the service was
down); agencies hear where it stands now — an episode that began and ended inside the backlog is not replayed
to them — while every episode that was open ends as it did (resolved, so the next risk is a new alert with
its own reminders, not an update of an acknowledged one). The stored target state is the one event by event
would leave; when the service keeps up, each fetch holds one event per target and nothing is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Alert, TargetState
from services.notifications.domain.alerts import RESOLVED, SYSTEM, AlertDraft, Alerts
from services.notifications.domain.dispatch import load_directory
from services.notifications.domain.routing import RECOVERED, RISK, load_rules, recipients, severity
from services.notifications.domain.run import OpenAlerts, Run
from shared.events.contracts import TargetStatusV1

log = logging.getLogger(__name__)

TARGET_RISK = "target_risk"
TARGET_DEADLINE = "target_deadline"
CLOSES_TARGET_DEADLINE = frozenset({"achieved", "missed"})


def risk_key(target_id: str, unit_code: str, agency_code: str) -> str:
    return f"{TARGET_RISK}|{target_id}|{unit_code}|{agency_code}"


def deadline_key(target_id: str, unit_code: str, agency_code: str) -> str:
    return f"{TARGET_DEADLINE}|{target_id}|{unit_code}|{agency_code}"


def numbers_of(event: TargetStatusV1) -> dict[str, Any]:
    """The part of an alert's data that describes the target now (strings for decimals, ISO for dates)."""
    data = event.model_dump(mode="json")
    return {
        "target_id": event.target_id,
        "target_code": event.target_code,
        "plan_code": event.plan_code,
        "unit_code": event.unit_code,
        "status": event.new_status,
        "old_status": event.old_status,
        "explanation": event.explanation,
        "deadline": data["deadline"],
        **{k: data[k] for k in ("baseline", "current", "target", "projection")},
        "event_version": event.version,
    }


def _state_row(event: TargetStatusV1) -> dict[str, Any]:
    return {
        "target_id": event.target_id,
        "unit_code": event.unit_code,
        "status": event.new_status,
        "version": event.version,
        "data": event.model_dump(mode="json"),
    }


def _state_upsert() -> Any:
    """Insert the state, or replace the stored one only when the event is newer (a late older one loses)."""
    stmt = insert(TargetState)
    return stmt.on_conflict_do_update(
        index_elements=[TargetState.target_id, TargetState.unit_code],
        set_={"status": stmt.excluded.status, "version": stmt.excluded.version, "data": stmt.excluded.data},
        where=TargetState.version < stmt.excluded.version,
    )


@dataclass
class TargetRun:
    """A run of target-status events: the alert run (with the open alerts of the run's pairs as its working set)
    and the stored version of each pair, both read and locked by `preload`; the newest state of each pair that
    moved is written by `write`, with the run's alerts and notices."""

    changes: Run
    versions: dict[tuple[str, str], int]  # (target, unit) → newest version, stored or applied in this run
    latest: dict[tuple[str, str], TargetStatusV1] = field(default_factory=dict)  # (target, unit) → event to store

    def record_state(self, event: TargetStatusV1) -> bool:
        """Take the event as the latest state of its (target, unit); False when it is not newer than that."""
        key = (event.target_id, event.unit_code)
        if event.version <= self.versions[key]:
            return False
        self.versions[key] = event.version
        self.latest[key] = event
        return True

    async def write(self) -> None:
        await self.changes.write()
        if self.latest:
            await self.changes.session.execute(_state_upsert(), [_state_row(e) for e in self.latest.values()])
            self.latest = {}


def newest_of(run: Sequence[TargetStatusV1]) -> set[int]:
    """Positions of each (target, unit)'s newest event in the run (the first of equal versions, as the inbox
    would keep it)."""
    newest: dict[tuple[str, str], int] = {}
    for i, event in enumerate(run):
        key = (event.target_id, event.unit_code)
        if key not in newest or event.version > run[newest[key]].version:
            newest[key] = i
    return set(newest.values())


def closes_something(open_now: OpenAlerts, event: TargetStatusV1) -> bool:
    """Whether `event` would resolve an alert that is open now (so skipping it would change how an episode ended)."""
    target, unit = event.target_id, event.unit_code
    return (event.new_status in RECOVERED and bool(open_now.of(TARGET_RISK, target, unit))) or (
        event.new_status in CLOSES_TARGET_DEADLINE and bool(open_now.of(TARGET_DEADLINE, target, unit))
    )


async def apply_run(
    session: AsyncSession, alerts: Alerts, events: Sequence[TargetStatusV1], now: Callable[[], datetime]
) -> list[TargetStatusV1]:
    """Apply a run of target-status events in arrival order, coalesced (module docstring), in the caller's
    transaction. Returns the events acted on."""
    newest = newest_of(events)
    run = await preload(session, events)
    acted = []
    for i, event in enumerate(events):
        if i in newest or closes_something(run.changes.open, event):
            await on_target_status(run, alerts, event, now())
            acted.append(event)
    await run.write()
    return acted


async def preload(session: AsyncSession, events: Sequence[TargetStatusV1]) -> TargetRun:
    """Read and lock a run's working set: the stored state of every (target, unit) it names and their open alerts,
    with the routing rules and the agency directory its notices need.

    Locks are taken in key order (target states) and opening order (alerts), so two runs naming the same pairs
    take them in one order.
    """
    pairs = sorted({(e.target_id, e.unit_code) for e in events})
    in_run = tuple_(TargetState.target_id, TargetState.unit_code).in_(pairs)
    stored = await session.execute(
        select(TargetState.target_id, TargetState.unit_code, TargetState.version)
        .where(in_run)
        .order_by(TargetState.target_id, TargetState.unit_code)
        .with_for_update()
    )
    versions = dict.fromkeys(pairs, 0)
    versions.update({(row.target_id, row.unit_code): row.version for row in stored})
    open_alerts = OpenAlerts(set(pairs))
    for alert in await session.scalars(
        select(Alert)
        .where(tuple_(Alert.target_id, Alert.unit_code).in_(pairs), Alert.state != RESOLVED)
        .order_by(Alert.opened_at, Alert.id)
        .with_for_update()
    ):
        open_alerts.remember(alert)
    changes = Run(session, open=open_alerts)
    await load_rules(changes, {(e.target_code, e.unit_code) for e in events})
    await load_directory(changes)
    return TargetRun(changes, versions)


async def on_target_status(run: TargetRun, alerts: Alerts, event: TargetStatusV1, now: datetime) -> None:
    if not run.record_state(event):
        log.info(
            "older target status ignored",
            extra={"target_id": event.target_id, "unit": event.unit_code, "version": event.version},
        )
        return
    changes, numbers = run.changes, numbers_of(event)
    if event.new_status in RISK:
        await _raise_risk(changes, alerts, event, numbers, now)
    elif event.new_status in RECOVERED:
        for alert in changes.open.of(TARGET_RISK, event.target_id, event.unit_code):
            await alerts.resolve(changes, alert, SYSTEM, now, **numbers, template="target_recovered")
    if event.new_status in CLOSES_TARGET_DEADLINE:
        for alert in changes.open.of(TARGET_DEADLINE, event.target_id, event.unit_code):
            await alerts.resolve(changes, alert, SYSTEM, now, **numbers, closed=True)


async def _raise_risk(run: Run, alerts: Alerts, event: TargetStatusV1, numbers: dict[str, Any], now: datetime) -> None:
    routed = await recipients(
        run, event.target_code, event.unit_code, event.lead_agency, list(event.coordinating_agencies)
    )
    agencies = set()
    for agency, role in routed.roles():
        agencies.add(agency)
        draft = AlertDraft(
            dedup_key=risk_key(event.target_id, event.unit_code, agency),
            kind=TARGET_RISK,
            role=role,
            agency_code=agency,
            severity=severity(event.new_status, role),
            data={**numbers, "template": TARGET_RISK, "role": role, "routing_override": routed.overridden},
            unit_code=event.unit_code,
            target_id=event.target_id,
            target_code=event.target_code,
        )
        await alerts.raise_alert(run, draft, now)
    # The routing changed since an alert was opened: the agency that no longer answers for it is told so.
    for alert in run.open.of(TARGET_RISK, event.target_id, event.unit_code):
        if alert.agency_code not in agencies:
            await alerts.resolve(run, alert, SYSTEM, now, template="target_recovered", resolution="rerouted")
