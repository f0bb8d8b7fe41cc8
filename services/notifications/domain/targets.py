"""Target-status events → target alerts (`indicators.target-status.v1`).

Events are applied in version order per (target, unit): the `target_states` row keeps the latest version
seen, and an older or repeated version changes nothing (the consumer's inbox already drops exact duplicates;
this drops a late, older event too). A move into a risk status opens — or updates — one alert per routed
agency; a move back to on_track / achieved resolves them; anything else (insufficient data, qualitative)
leaves them as they are.

A run of events fetched together is *coalesced* (`apply_run`): of each (target, unit)'s events in the run,
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
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Alert, TargetState
from services.notifications.domain.alerts import RESOLVED, SYSTEM, AlertDraft, Alerts
from services.notifications.domain.dispatch import load_directory
from services.notifications.domain.lookups import Lookups, OpenAlerts, batch_lookups, lookups_for
from services.notifications.domain.routing import RECOVERED, RISK, load_rules, recipients, severity
from shared.events.contracts import TargetStatusV1
from shared.messaging.outbox import Outbox

log = logging.getLogger(__name__)
T = TypeVar("T")

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


async def record_state(session: AsyncSession, event: TargetStatusV1) -> bool:
    """Store the event as the latest state of its (target, unit); False when it is not newer than the stored one."""
    cache = lookups_for(session)
    key = (event.target_id, event.unit_code)
    if cache is not None and cache.open is not None and key in cache.state_versions:
        # In a run: decided against the version read (and locked) by `preload`; written once by `finish_run`.
        if event.version <= cache.state_versions[key]:
            return False
        cache.state_versions[key] = event.version
        cache.latest_states[key] = event
        return True
    upsert = _state_upsert().values(_state_row(event)).returning(TargetState.version)
    return (await session.execute(upsert)).first() is not None


def newest_of(run: Sequence[tuple[T, TargetStatusV1]]) -> set[int]:
    """Positions of each (target, unit)'s newest event in the run (the first of equal versions, as the inbox
    would keep it)."""
    newest: dict[tuple[str, str], int] = {}
    for i, (_, event) in enumerate(run):
        key = (event.target_id, event.unit_code)
        if key not in newest or event.version > run[newest[key]][1].version:
            newest[key] = i
    return set(newest.values())


def closes_something(open_now: OpenAlerts, event: TargetStatusV1) -> bool:
    """Whether `event` would resolve an alert that is open now (so skipping it would change how an episode ended)."""
    target, unit = event.target_id, event.unit_code
    return (event.new_status in RECOVERED and bool(open_now.of(TARGET_RISK, target, unit))) or (
        event.new_status in CLOSES_TARGET_DEADLINE and bool(open_now.of(TARGET_DEADLINE, target, unit))
    )


async def apply_run(
    session: AsyncSession,
    alerts: Alerts,
    outbox: Outbox,
    run: Sequence[tuple[T, TargetStatusV1]],
    now: Callable[[], datetime],
    traced: Callable[[T], AbstractContextManager[object]],
) -> list[tuple[T, TargetStatusV1]]:
    """Apply a run of target-status events in arrival order, coalesced (module docstring), in the caller's
    transaction: working set read and locked once (`preload`), alerts and notices kept in memory, everything
    written at the end (`finish_run`). Each event acted on runs inside `traced(its envelope)`. Returns the
    events acted on."""
    newest = newest_of(run)
    acted = []
    with batch_lookups(session) as cache:
        await preload(session, cache, [event for _, event in run])
        assert cache.open is not None
        for i, (envelope, event) in enumerate(run):
            if i not in newest and not closes_something(cache.open, event):
                continue
            with traced(envelope):
                await on_target_status(session, alerts, event, now())
            acted.append((envelope, event))
        await finish_run(session, cache, outbox)
    return acted


async def preload(session: AsyncSession, cache: Lookups, events: Sequence[TargetStatusV1]) -> None:
    """Read and lock a run's working set: the stored state of every (target, unit) it names, and their open alerts.

    Locks are taken in key order (target states) and opening order (alerts), as single events take them.
    """
    pairs = sorted({(e.target_id, e.unit_code) for e in events})
    in_run = tuple_(TargetState.target_id, TargetState.unit_code).in_(pairs)
    stored = await session.execute(
        select(TargetState.target_id, TargetState.unit_code, TargetState.version)
        .where(in_run)
        .order_by(TargetState.target_id, TargetState.unit_code)
        .with_for_update()
    )
    cache.state_versions = dict.fromkeys(pairs, 0)
    cache.state_versions.update({(row.target_id, row.unit_code): row.version for row in stored})
    run = OpenAlerts(set(pairs))
    for alert in await session.scalars(
        select(Alert)
        .where(tuple_(Alert.target_id, Alert.unit_code).in_(pairs), Alert.state != RESOLVED)
        .order_by(Alert.opened_at, Alert.id)
        .with_for_update()
    ):
        run.remember(alert)
    cache.open = run
    await load_rules(session, cache, {(e.target_code, e.unit_code) for e in events})
    await load_directory(session, cache)


async def finish_run(session: AsyncSession, cache: Lookups, outbox: Outbox) -> None:
    """Write what a run left in memory: the alerts (one flush), then the notices that name them (one statement
    per table), the newest states and the outbox rows."""
    await session.flush()
    staged, cache.staged = cache.staged, {}
    for model, rows in staged.items():
        await session.execute(insert(model), rows)
    if cache.latest_states:
        await session.execute(_state_upsert(), [_state_row(e) for e in cache.latest_states.values()])
        cache.latest_states = {}
    rows, cache.outbox_rows = cache.outbox_rows, []
    await outbox.insert_rows(session, rows)


async def open_alerts(session: AsyncSession, kind: str, target_id: str, unit_code: str) -> list[Alert]:
    cache = lookups_for(session)
    if cache is not None and cache.open is not None and cache.open.holds(target_id, unit_code):
        return cache.open.of(kind, target_id, unit_code)
    rows = await session.scalars(
        select(Alert)
        .where(Alert.kind == kind, Alert.target_id == target_id, Alert.unit_code == unit_code, Alert.state != RESOLVED)
        .order_by(Alert.opened_at, Alert.id)
        .with_for_update()
    )
    return list(rows)


async def on_target_status(session: AsyncSession, alerts: Alerts, event: TargetStatusV1, now: datetime) -> None:
    if not await record_state(session, event):
        log.info(
            "older target status ignored",
            extra={"target_id": event.target_id, "unit": event.unit_code, "version": event.version},
        )
        return
    numbers = numbers_of(event)
    if event.new_status in RISK:
        await _raise_risk(session, alerts, event, numbers, now)
    elif event.new_status in RECOVERED:
        for alert in await open_alerts(session, TARGET_RISK, event.target_id, event.unit_code):
            await alerts.resolve(session, alert, SYSTEM, now, **numbers, template="target_recovered")
    if event.new_status in CLOSES_TARGET_DEADLINE:
        for alert in await open_alerts(session, TARGET_DEADLINE, event.target_id, event.unit_code):
            await alerts.resolve(session, alert, SYSTEM, now, **numbers, closed=True)


async def _raise_risk(
    session: AsyncSession, alerts: Alerts, event: TargetStatusV1, numbers: dict[str, Any], now: datetime
) -> None:
    routed = await recipients(
        session, event.target_code, event.unit_code, event.lead_agency, list(event.coordinating_agencies)
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
        await alerts.raise_alert(session, draft, now)
    # The routing changed since an alert was opened: the agency that no longer answers for it is told so.
    for alert in await open_alerts(session, TARGET_RISK, event.target_id, event.unit_code):
        if alert.agency_code not in agencies:
            await alerts.resolve(session, alert, SYSTEM, now, template="target_recovered", resolution="rerouted")
