"""One pass of the scheduler: send what is due and not yet sent — deadline reminders, overdue repeats,
target-deadline reminders and re-reminders of open target alerts.

Safe with any number of replicas, and catches up after downtime:
- each notice has a stable key (calendar.py) claimed with `INSERT … ON CONFLICT DO NOTHING RETURNING` in the
  same transaction as the alert change, so a notice exists once whoever sends it and whenever;
- the thing a notice is about (deadline, target state, alert) is locked `FOR UPDATE` and re-checked first,
  so a submission or a recovery committing at the same moment either wins or sees the new alert;
- it asks "what is due now and not yet claimed?", never "what falls due exactly today";
- a pass reads only candidates (unsubmitted deadlines within the reminder horizon, not-achieved targets,
  open lead alerts) and filters out claimed keys in one query before opening a transaction per notice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.db.models import Agency, Alert, Deadline, ScheduledSend, TargetState
from services.notifications.domain.alerts import OPEN, AlertDraft, Alerts
from services.notifications.domain.calendar import ScheduledNotice, deadline_notice, re_remind_key, target_notice
from services.notifications.domain.deadlines import announce, claim, ensure_obligations
from services.notifications.domain.routing import recipients
from services.notifications.domain.run import Run
from services.notifications.domain.targets import TARGET_DEADLINE, TARGET_RISK, deadline_key, numbers_of
from shared.clock import VIETNAM
from shared.events.contracts import TargetStatusV1

log = logging.getLogger(__name__)

NO_TARGET_REMINDERS = ("achieved", "qualitative")


@dataclass(frozen=True)
class Policy:
    reminder_days: list[int]
    target_reminder_days: list[int]
    overdue_repeat_days: int
    re_remind_days: int
    authority: str


class Scheduler:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        alerts: Alerts,
        policy: Policy,
        memo: dict[str, Any] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.alerts = alerts
        self.policy = policy
        self.memo = memo if memo is not None else {}
        """Survives between passes of one process: the day obligations were last ensured."""

    async def run(self, today: date, now: datetime) -> int:
        """One pass; returns the number of notices sent."""
        async with self.sessionmaker() as session, session.begin():
            # Once a day per process is plenty (an agency that appears gets its obligations when it arrives).
            if self.memo.get("obligations_ensured_on") != today:
                await ensure_obligations(session, today, now)
            due = [
                *[(s, n, self._send_deadline) for s, n in await self._deadline_notices(session, today)],
                *[(s, n, self._send_target) for s, n in await self._target_notices(session, today)],
                *[(s, n, self._send_re_reminder) for s, n in await self._re_reminders(session, today)],
            ]
            claimed = await self._claimed(session, [n.key for _, n, _ in due])
        self.memo["obligations_ensured_on"] = today
        sent = 0
        for subject, notice, send in due:
            if notice.key not in claimed:
                sent += await self._safely(send, subject, notice, now)
        return sent

    # -- what is due ------------------------------------------------------------------------------------

    async def _deadline_notices(self, session: AsyncSession, today: date) -> list[tuple[object, ScheduledNotice]]:
        horizon = today + timedelta(days=max(self.policy.reminder_days))
        rows = await session.execute(
            select(Deadline.id, Deadline.due_on)
            .join(Agency, Agency.code == Deadline.agency_code)
            .where(Deadline.submitted_on.is_(None), Agency.active, Deadline.due_on <= horizon)
            .order_by(Deadline.id)
        )
        p = self.policy
        found = [(i, deadline_notice(i, d, today, p.reminder_days, p.overdue_repeat_days)) for i, d in rows.all()]
        return [(i, n) for i, n in found if n is not None]

    async def _target_notices(self, session: AsyncSession, today: date) -> list[tuple[object, ScheduledNotice]]:
        rows = await session.execute(
            select(TargetState.target_id, TargetState.unit_code, TargetState.data).where(
                TargetState.status.not_in(NO_TARGET_REMINDERS)
            )
        )
        found: list[tuple[object, ScheduledNotice]] = []
        for target_id, unit, data in rows.all():
            deadline = date.fromisoformat(data["deadline"])
            notice = target_notice(target_id, unit, deadline, today, self.policy.target_reminder_days)
            if notice is not None:
                found.append(((target_id, unit), notice))
        return found

    async def _re_reminders(self, session: AsyncSession, today: date) -> list[tuple[object, ScheduledNotice]]:
        rows = await session.execute(
            select(Alert.id, Alert.opened_at)
            .where(Alert.kind == TARGET_RISK, Alert.role == "lead", Alert.state == OPEN)
            .order_by(Alert.id)
        )
        found: list[tuple[object, ScheduledNotice]] = []
        for alert_id, opened_at in rows.all():
            key = re_remind_key(alert_id, opened_at.astimezone(VIETNAM).date(), today, self.policy.re_remind_days)
            if key is not None:
                found.append((alert_id, ScheduledNotice(key, "reminder", 0)))
        return found

    async def _claimed(self, session: AsyncSession, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        return set((await session.scalars(select(ScheduledSend.key).where(ScheduledSend.key.in_(keys)))).all())

    # -- sending one ------------------------------------------------------------------------------------

    async def _safely(
        self,
        send: Callable[[object, ScheduledNotice, datetime], Awaitable[int]],
        subject: object,
        notice: ScheduledNotice,
        now: datetime,
    ) -> int:
        try:
            return await send(subject, notice, now)
        except Exception:
            # Nothing was claimed (the transaction rolled back): the next pass tries again.
            log.warning("scheduled notice failed; will retry", extra={"key": notice.key}, exc_info=True)
            return 0

    async def _send_deadline(self, subject: object, notice: ScheduledNotice, now: datetime) -> int:
        assert isinstance(subject, uuid.UUID)
        async with self.sessionmaker() as session, session.begin():
            deadline = await session.scalar(
                select(Deadline).where(Deadline.id == subject, Deadline.submitted_on.is_(None)).with_for_update()
            )
            if deadline is None or not await claim(session, [notice.key], now):
                return 0
            await claim(session, notice.stale_keys, now)
            run = Run(session)
            await announce(run, self.alerts, deadline, notice.template, notice.days_left, now, self.policy.authority)
            await run.write()
            return 1

    async def _send_target(self, subject: object, notice: ScheduledNotice, now: datetime) -> int:
        assert isinstance(subject, tuple)
        target_id, unit = subject
        async with self.sessionmaker() as session, session.begin():
            state = await session.scalar(
                select(TargetState)
                .where(
                    TargetState.target_id == target_id,
                    TargetState.unit_code == unit,
                    TargetState.status.not_in(NO_TARGET_REMINDERS),
                )
                .with_for_update()
            )
            if state is None or not await claim(session, [notice.key], now):
                return 0
            await claim(session, notice.stale_keys, now)
            event = TargetStatusV1.model_validate(state.data)
            run = Run(session)
            routed = await recipients(
                run, event.target_code, unit, event.lead_agency, list(event.coordinating_agencies)
            )
            draft = AlertDraft(
                dedup_key=deadline_key(target_id, unit, routed.lead),
                kind=TARGET_DEADLINE,
                role="lead",
                agency_code=routed.lead,
                severity="warning" if notice.days_left > 30 else "critical",
                data={**numbers_of(event), "template": TARGET_DEADLINE, "days_left": notice.days_left, "role": "lead"},
                unit_code=unit,
                target_id=target_id,
                target_code=event.target_code,
            )
            await self.alerts.raise_alert(run, draft, now, repeat_notice="reminder")
            await run.write()
            return 1

    async def _send_re_reminder(self, subject: object, notice: ScheduledNotice, now: datetime) -> int:
        async with self.sessionmaker() as session, session.begin():
            alert = await session.scalar(
                select(Alert).where(Alert.id == subject, Alert.state == OPEN).with_for_update()
            )
            if alert is None or not await claim(session, [notice.key], now):
                return 0
            run = Run(session)
            await self.alerts.remind(run, alert, now)
            await run.write()
            return 1
