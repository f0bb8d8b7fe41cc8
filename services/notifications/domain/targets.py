"""Target-status events → target alerts (`indicators.target-status.v1`).

Events are applied in version order per (target, unit): the `target_states` row keeps the latest version
seen, and an older or repeated version changes nothing (the consumer's inbox already drops exact duplicates;
this drops a late, older event too). A move into a risk status opens — or updates — one alert per routed
agency; a move back to on_track / achieved resolves them; anything else (insufficient data, qualitative)
leaves them as they are.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Alert, TargetState
from services.notifications.domain.alerts import RESOLVED, SYSTEM, AlertDraft, Alerts
from services.notifications.domain.routing import RECOVERED, RISK, recipients, severity
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


async def record_state(session: AsyncSession, event: TargetStatusV1) -> bool:
    """Store the event as the latest state of its (target, unit); False when it is not newer than the stored one."""
    stmt = insert(TargetState).values(
        target_id=event.target_id,
        unit_code=event.unit_code,
        status=event.new_status,
        version=event.version,
        data=event.model_dump(mode="json"),
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[TargetState.target_id, TargetState.unit_code],
        set_={"status": stmt.excluded.status, "version": stmt.excluded.version, "data": stmt.excluded.data},
        where=TargetState.version < stmt.excluded.version,
    ).returning(TargetState.version)
    return (await session.execute(upsert)).first() is not None


async def open_alerts(session: AsyncSession, kind: str, target_id: str, unit_code: str) -> list[Alert]:
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
