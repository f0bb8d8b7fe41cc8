"""The alert lifecycle: open → acknowledged → resolved, one open alert per dedup key, every change announced.

Every change of an alert — opened, updated, reminder, acknowledged, resolved — goes out twice in the caller's
transaction: as notices on the agency's channels (`dispatch.notify`) and as an `AlertV1` event through the
outbox (with the alert's version bumped), so dashboards and inboxes see exactly what committed. Both are
staged on the caller's run and written by its `write` (domain/run.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.db.models import Alert
from services.notifications.domain import dispatch
from services.notifications.domain.messages import render
from services.notifications.domain.run import Run
from shared.errors import Conflict, PreconditionFailed
from shared.events.contracts import AlertV1
from shared.messaging.outbox import Outbox

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
SYSTEM = "system"


@dataclass
class AlertDraft:
    """What an alert should say now; `raise_alert` opens it or brings the open one up to date."""

    dedup_key: str
    kind: str
    role: str
    agency_code: str
    severity: str
    data: dict[str, Any]
    unit_code: str | None = None
    target_id: str | None = None
    target_code: str | None = None
    deadline_id: uuid.UUID | None = None


def etag_of(alert: Alert) -> str:
    return f'"{alert.id}.v{alert.version}"'


async def find_open(session: AsyncSession, dedup_key: str) -> Alert | None:
    """The open or acknowledged alert with this key, locked (the partial unique index allows only one)."""
    return await session.scalar(
        select(Alert).where(Alert.dedup_key == dedup_key, Alert.state != RESOLVED).with_for_update()
    )


class Alerts:
    """Alert changes for one service instance (it needs the outbox to announce them)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def raise_alert(
        self, run: Run, draft: AlertDraft, now: datetime, *, repeat_notice: str = "updated"
    ) -> tuple[Alert, str]:
        """Open an alert, or update the open one with the same key (`repeat_notice`); never a duplicate."""
        in_working_set = run.open.holds(draft.target_id, draft.unit_code)
        if in_working_set:
            assert draft.target_id is not None and draft.unit_code is not None
            alert = run.open.find(draft.kind, draft.target_id, draft.unit_code, draft.dedup_key)
        else:
            await run.session.flush()  # the query sees an alert this run added (autoflush is off)
            alert = await find_open(run.session, draft.dedup_key)
        notice = repeat_notice
        if alert is None:
            notice = "opened"
            alert = Alert(
                id=uuid.uuid4(),
                dedup_key=draft.dedup_key,
                state=OPEN,
                opened_at=now,
                notify_count=0,
                version=0,
            )
            run.session.add(alert)
        alert.kind, alert.role, alert.agency_code, alert.severity = (
            draft.kind,
            draft.role,
            draft.agency_code,
            draft.severity,
        )
        alert.unit_code, alert.target_id, alert.target_code = draft.unit_code, draft.target_id, draft.target_code
        alert.deadline_id = draft.deadline_id
        if in_working_set and notice == "opened":
            run.open.remember(alert)  # indexed by kind, target and unit: only now are they set
        alert.data = dict(draft.data)
        await self._render(run, alert)
        await self.emit(run, alert, notice, now)
        return alert, notice

    async def remind(self, run: Run, alert: Alert, now: datetime, **data: Any) -> None:
        alert.data = {**alert.data, **data}
        await self._render(run, alert)
        await self.emit(run, alert, "reminder", now)

    async def acknowledge(self, run: Run, alert: Alert, by: str, now: datetime) -> None:
        if alert.state != OPEN:
            raise Conflict(
                f"Cảnh báo đang ở trạng thái '{alert.state}', không thể xác nhận "
                "(only an open alert can be acknowledged)",
                errors=[{"field": "state", "message": f"is {alert.state!r}"}],
            )
        alert.state, alert.acknowledged_at, alert.acknowledged_by = ACKNOWLEDGED, now, by
        await self.emit(run, alert, "acknowledged", now)

    async def resolve(self, run: Run, alert: Alert, by: str, now: datetime, **data: Any) -> None:
        """Resolve with a notice; `data` (e.g. a new template and the numbers) re-renders the final text."""
        if alert.state == RESOLVED:
            raise Conflict(
                "Cảnh báo đã được đóng (the alert is already resolved)",
                errors=[{"field": "state", "message": "is 'resolved'"}],
            )
        alert.state, alert.resolved_at, alert.resolved_by = RESOLVED, now, by
        run.open.forget(alert)
        if data:
            alert.data = {**alert.data, **data}
            await self._render(run, alert)
        await self.emit(run, alert, "resolved", now)

    async def emit(self, run: Run, alert: Alert, notice: str, now: datetime) -> None:
        alert.version += 1
        alert.updated_at = now
        await dispatch.notify(run, alert, notice, now)
        event = AlertV1(
            alert_id=alert.id,
            kind=alert.kind,
            agency_code=alert.agency_code,
            unit_code=alert.unit_code,
            target_code=alert.target_code,
            state=alert.state,
            title=alert.title,
            body=alert.body,
            version=alert.version,
            changed_at=now,
        )
        run.publish(self.outbox, event, now)

    async def _render(self, run: Run, alert: Alert) -> None:
        agency = await dispatch.agency_of(run, alert.agency_code)
        message = render(alert.data, (agency.language if agency is not None else None) or "vi")
        alert.title, alert.body = message.title[:500], message.body


def check_version(alert: Alert, if_match: str | None) -> None:
    """An optional `If-Match` on acknowledge/resolve: refuse when the alert changed since the caller read it."""
    if if_match is not None and if_match.strip() not in (etag_of(alert), "*"):
        raise PreconditionFailed(
            "Cảnh báo đã thay đổi từ lần đọc trước (the alert changed; read it again)",
            errors=[{"field": "header.If-Match", "message": f"current ETag is {etag_of(alert)}"}],
        )
