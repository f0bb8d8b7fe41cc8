"""The alert lifecycle: open → acknowledged → resolved, one open alert per dedup key, every change announced.

Every change of an alert — opened, updated, reminder, acknowledged, resolved — goes out twice in the caller's
transaction: as notices on the agency's channels (`dispatch.notify`) and as an `AlertV1` event through the
outbox (with the alert's version bumped), so dashboards and inboxes see exactly what committed. Both are
staged on the caller's run and written by its `write` (domain/run.py).

`AlertService` holds the HTTP use cases (list, read, acknowledge, resolve); each opens and owns its transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.db.models import Alert
from services.notifications.domain import dispatch
from services.notifications.domain.access import is_operator, may_act_for, may_oversee, require_act_for
from services.notifications.domain.messages import render
from services.notifications.domain.run import Run
from shared.auth import Principal
from shared.clock import Clock
from shared.errors import Conflict, NotFound, PreconditionFailed
from shared.events.contracts import AlertV1
from shared.messaging.outbox import Outbox
from shared.pagination import decode_cursor, encode_cursor

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
SYSTEM = "system"
SORT = "opened_at_desc"


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


def by_whom(principal: Principal) -> str:
    """Who acknowledged or resolved an alert, as stored on it: `<agency>/<subject>`."""
    return f"{principal.agency}/{principal.subject}"


@dataclass(frozen=True)
class AlertFilter:
    """What a list of alerts narrows to; `agency` None means the caller's own (every agency for an operator)."""

    agency: str | None = None
    state: str | None = None
    kind: str | None = None
    unit_code: str | None = None
    target_code: str | None = None


async def own_alert(
    session: AsyncSession, principal: Principal, alert_id: uuid.UUID, *, lock: bool, authority: str | None = None
) -> Alert:
    """The alert if the principal may act on it, or (given `authority`) read it as the reporting authority."""
    query = select(Alert).where(Alert.id == alert_id)
    alert = await session.scalar(query.with_for_update() if lock else query)
    allowed = alert is not None and (
        may_act_for(principal, alert.agency_code) or (authority is not None and may_oversee(principal, authority))
    )
    if alert is None or not allowed:
        # Another agency's alert is "not found", as in the inbox: an id reveals nothing about other agencies.
        raise NotFound(f"Không tìm thấy cảnh báo '{alert_id}' (alert not found)")
    return alert


class AlertService:
    """The alert use cases behind `/v1/alerts`; each opens and owns its transaction and returns the alert."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock, *, authority: str
    ) -> None:
        self.sessionmaker = sessionmaker
        self.alerts = Alerts(outbox)
        self.clock = clock
        self.authority = authority
        """The reporting authority reads every agency's alerts (it sees every deadline); it acts only on its own."""

    async def page(
        self, principal: Principal, wanted: AlertFilter, *, limit: int, cursor: str | None
    ) -> tuple[list[Alert], str | None]:
        """Newest first; the next page's cursor, or None on the last page."""
        agency = wanted.agency
        if agency is None and not is_operator(principal):
            agency = principal.agency
        if agency is not None and not may_oversee(principal, self.authority):
            require_act_for(principal, agency, field="query.agency")
        query = select(Alert)
        for column, value in (
            (Alert.agency_code, agency),
            (Alert.state, wanted.state),
            (Alert.kind, wanted.kind),
            (Alert.unit_code, wanted.unit_code),
            (Alert.target_code, wanted.target_code),
        ):
            if value is not None:
                query = query.where(column == value)
        if cursor:
            at, after = decode_cursor(cursor, SORT, lambda value: datetime.fromisoformat(str(value)))
            query = query.where(or_(Alert.opened_at < at, and_(Alert.opened_at == at, Alert.id < after)))
        query = query.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit + 1)
        async with self.sessionmaker() as session:
            rows = list((await session.scalars(query)).all())
        more, rows = len(rows) > limit, rows[:limit]
        next_cursor = encode_cursor(SORT, rows[-1].opened_at.isoformat(), str(rows[-1].id)) if more and rows else None
        return rows, next_cursor

    async def get(self, principal: Principal, alert_id: uuid.UUID) -> Alert:
        async with self.sessionmaker() as session:
            return await own_alert(session, principal, alert_id, lock=False, authority=self.authority)

    async def acknowledge(self, principal: Principal, alert_id: uuid.UUID, if_match: str | None) -> Alert:
        now = self.clock.now()
        async with self.sessionmaker() as session, session.begin():
            alert = await own_alert(session, principal, alert_id, lock=True)
            check_version(alert, if_match)
            if alert.state != ACKNOWLEDGED:  # a retried acknowledge is a no-op, not an error
                run = Run(session)
                await self.alerts.acknowledge(run, alert, by_whom(principal), now)
                await run.write()
        return alert

    async def resolve(self, principal: Principal, alert_id: uuid.UUID, if_match: str | None) -> Alert:
        now = self.clock.now()
        async with self.sessionmaker() as session, session.begin():
            alert = await own_alert(session, principal, alert_id, lock=True)
            check_version(alert, if_match)
            run = Run(session)
            await self.alerts.resolve(run, alert, by_whom(principal), now, resolution="manual")
            await run.write()
        return alert
