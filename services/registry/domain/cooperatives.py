"""Use cases on cooperatives and their status reports. Each opens and owns its transaction, and stages the
`registry.cooperative-status.v1` event in the outbox inside it (no dual writes)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from services.registry.db.models import Cooperative, CooperativeChange, StatusReport
from services.registry.db.repositories import (
    ChangeRepository,
    CooperativeFilter,
    CooperativeRepository,
    ReportIfUnchanged,
    StatusReportRepository,
    UnitRepository,
)
from services.registry.domain.access import authorise_registry_write, check_registry_write, may_write_in_sql
from services.registry.domain.idempotency import IdempotencyKey, Outcome, replayed, run_once
from services.registry.domain.inputs import CooperativeCreate, CooperativeUpdate, StatusReportCreate
from services.registry.domain.report_cache import ReportCache
from services.registry.domain.report_context import ReportContext, lock_with_context, read_context, read_snapshot
from services.registry.domain.values import is_newer, plain, stored
from services.registry.domain.vietnamese import fold, normalise_name
from services.registry.events import publish
from shared import tracing
from shared.auth import Principal
from shared.clock import Clock
from shared.db import detached, driver_connection
from shared.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from shared.messaging.outbox import Outbox
from shared.pagination import decode_cursor, encode_cursor

Render = Callable[[Any], dict[str, Any]]


def etag_of(coop: Cooperative) -> str:
    return etag(coop.id, coop.version)


def etag(cooperative_id: object, version: object) -> str:
    """Strong ETag naming the version a client read: `"<id>.v<version>"`."""
    return f'"{cooperative_id}.v{version}"'


def new_cooperative(data: CooperativeCreate, now: datetime) -> tuple[Cooperative, dict[str, Any]]:
    """The row for a new cooperative (name in NFC with single spaces, folded search key, version 1), and the
    fields as stored, for the audit trail. Shared by the API's create and the file import."""
    fields = data.model_dump()
    fields["name"] = normalise_name(fields["name"])
    coop = Cooperative(
        id=uuid.uuid4(),
        search_name=fold(fields["name"]),
        version=1,
        created_at=now,
        updated_at=now,
        latest_report_id=None,
        classification=None,
        is_model=None,
        **{k: stored(v) for k, v in fields.items()},
    )
    return coop, fields


log = logging.getLogger(__name__)

# What two writers of one report race on besides the cooperative's version (models: primary key of the
# Idempotency-Key outcomes, one revision per cooperative and period).
_RACE_CONSTRAINTS = frozenset({"pk_idempotency_keys", "uq_status_reports_cooperative_id_period_revision"})


@dataclass(frozen=True)
class _ReportPlan:
    report: StatusReport  # as it will be stored (a detached view, shared.db.detached)
    current: StatusReport  # the cooperative's latest report once this one is added: it, or a later-dated one
    values: dict[str, Any]  # the report's row
    bump: dict[str, Any]  # the cooperative's new version (repositories._NEW_VERSION_COLUMNS)
    audit: dict[str, Any]  # the audit row


class CooperativeService:
    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        clock: Clock,
        *,
        wake_relay: Callable[[], None] | None = None,
    ) -> None:
        """`wake_relay`: how a status report wakes the relay of this process, which then publishes it; None when
        the relay runs elsewhere (`run_workers=false`), and the report's statement sends a NOTIFY instead."""
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.clock = clock
        self.wake_relay = wake_relay
        # Built and compiled once per outbox (its table and NOTIFY channel are part of the statement).
        self._report_if_unchanged = ReportIfUnchanged(
            outbox.table, outbox.channel, may_write_in_sql, notify=wake_relay is None
        )
        self.known = ReportCache()  # what this process last wrote, per cooperative (report_cache)

    # -- reads ------------------------------------------------------------------------------------------

    async def get(self, cooperative_id: uuid.UUID) -> tuple[Cooperative, StatusReport | None]:
        async with self.sessionmaker() as session:
            coop = await CooperativeRepository(session).get(cooperative_id)
            if coop is None:
                raise NotFound(f"Không tìm thấy HTX {cooperative_id} (cooperative not found)")
            latest = await StatusReportRepository(session).get(coop.latest_report_id) if coop.latest_report_id else None
            return coop, latest

    async def reports(self, cooperative_id: uuid.UUID, limit: int | None = None) -> list[StatusReport]:
        async with self.sessionmaker() as session:
            if await CooperativeRepository(session).get(cooperative_id) is None:
                raise NotFound(f"Không tìm thấy HTX {cooperative_id} (cooperative not found)")
            return list(await StatusReportRepository(session).history(cooperative_id, limit))

    async def changes(
        self, cooperative_id: uuid.UUID, limit: int | None = None, before: int | None = None
    ) -> list[CooperativeChange]:
        async with self.sessionmaker() as session:
            if await CooperativeRepository(session).get(cooperative_id) is None:
                raise NotFound(f"Không tìm thấy HTX {cooperative_id} (cooperative not found)")
            return list(await ChangeRepository(session).history(cooperative_id, limit=limit, before=before))

    # -- writes -----------------------------------------------------------------------------------------

    async def create(
        self, principal: Principal, data: CooperativeCreate, idem: IdempotencyKey | None, render: Render
    ) -> Outcome:
        async with self.sessionmaker() as session, session.begin():

            async def action() -> dict[str, Any]:
                coop = await self.create_in(session, principal, data)
                return render((coop, None))

            try:
                return await run_once(session, idem, action)
            except IntegrityError as exc:
                raise Conflict(
                    f"Mã số HTX {data.registration_code} đã tồn tại (registration code already registered)",
                    errors=[{"field": "registration_code", "message": "already registered"}],
                ) from exc

    async def create_in(self, session: AsyncSession, principal: Principal, data: CooperativeCreate) -> Cooperative:
        """Create inside the caller's transaction (also used by the file import)."""
        now = self.clock.now()
        await self._require_unit(session, data.unit_code)
        await authorise_registry_write(session, principal, {data.unit_code}, self.clock.today())
        coop, fields = new_cooperative(data, now)
        session.add(coop)
        await session.flush()  # surfaces a duplicate registration code here, inside the transaction
        self._audit(
            session, coop, "created", {k: {"old": None, "new": plain(v)} for k, v in fields.items()}, principal, now
        )
        await self.outbox.add(session, publish.cooperative_status(coop, None, now), occurred_at=now)
        return coop

    async def update(
        self, principal: Principal, cooperative_id: uuid.UUID, if_match: str, data: CooperativeUpdate, render: Render
    ) -> dict[str, Any]:
        async with self.sessionmaker() as session, session.begin():
            coop = await CooperativeRepository(session).get(cooperative_id, for_update=True)
            if coop is None:
                raise NotFound(f"Không tìm thấy HTX {cooperative_id} (cooperative not found)")
            if if_match.strip() != etag_of(coop):
                raise PreconditionFailed(
                    "HTX đã được người khác cập nhật; hãy tải lại (the cooperative changed since you read it)",
                    current_etag=etag_of(coop),
                )
            latest = await self.update_in(session, principal, coop, data.model_dump(exclude_unset=True))
            return render((coop, latest))

    async def update_in(
        self, session: AsyncSession, principal: Principal, coop: Cooperative, fields: dict[str, Any]
    ) -> StatusReport | None:
        now = self.clock.now()
        units = {coop.unit_code}
        if "unit_code" in fields and fields["unit_code"] != coop.unit_code:
            await self._require_unit(session, fields["unit_code"])
            units.add(fields["unit_code"])
        await authorise_registry_write(session, principal, units, self.clock.today())
        if "name" in fields:
            fields["name"] = normalise_name(fields["name"])
        changes = {
            k: {"old": plain(getattr(coop, k)), "new": plain(v)}
            for k, v in fields.items()
            if plain(getattr(coop, k)) != plain(v)
        }
        latest = await StatusReportRepository(session).get(coop.latest_report_id) if coop.latest_report_id else None
        if not changes:
            return latest  # nothing changed: no new version, no event
        for key, value in fields.items():
            setattr(coop, key, stored(value))
        if "name" in changes:
            coop.search_name = fold(coop.name)
        coop.version += 1
        coop.updated_at = now
        self._audit(session, coop, "updated", changes, principal, now)
        await self.outbox.add(session, publish.cooperative_status(coop, latest, now), occurred_at=now)
        return latest

    async def report_status(
        self,
        principal: Principal,
        cooperative_id: uuid.UUID,
        data: StatusReportCreate,
        idem: IdempotencyKey | None,
        render: Render,
    ) -> Outcome:
        """Add a status report: the hot path of the whole system, so in as few round trips as the rules allow.

        1. When this process remembers the cooperative as it last wrote it (`report_cache`), and no
           Idempotency-Key needs looking up: one statement that writes everything, if the cooperative is still
           at the version remembered and the agency may write it.
        2. Otherwise, or when that wrote nothing: without a lock, read everything in one statement, then write
           everything in one statement that applies only if the cooperative's version is still the one read (no
           BEGIN/COMMIT).
        3. If another writer of the cooperative, or of the same Idempotency-Key, committed in between: again
           under the row lock, which always succeeds (or says why not: 403, 404, the key's earlier outcome)."""
        outcome = await self._report_known(principal, cooperative_id, data, render) if idem is None else None
        if outcome is None:
            outcome = await self._report_unlocked(principal, cooperative_id, data, idem, render)
        if outcome is None:
            outcome = await self._report_locked(principal, cooperative_id, data, idem, render)
        return outcome

    async def _report_known(
        self, principal: Principal, cooperative_id: uuid.UUID, data: StatusReportCreate, render: Render
    ) -> Outcome | None:
        """None when this process does not remember the cooperative, or what it remembers is out of date, or the
        agency may not write it: nothing was written, and the next way decides (and says why)."""
        known = self.known.get(cooperative_id)
        if known is None:
            return None
        self._check_as_of(data)
        async with driver_connection(self.engine) as conn:
            outcome = await self._write_unlocked(
                conn,
                principal,
                known.cooperative,
                known.latest,
                known.top_revisions,
                data,
                None,
                render,
                on=self.clock.today(),
            )
        if outcome is None:
            self.known.forget(cooperative_id)
        return outcome

    async def _report_unlocked(
        self,
        principal: Principal,
        cooperative_id: uuid.UUID,
        data: StatusReportCreate,
        idem: IdempotencyKey | None,
        render: Render,
    ) -> Outcome | None:
        """None when the cooperative changed between the read and the write (then nothing was written)."""
        async with driver_connection(self.engine) as conn:
            today = self.clock.today()
            snapshot = await read_snapshot(conn, cooperative_id, data.period, principal.agency, today, idem)
            if snapshot is None:
                raise NotFound(f"Không tìm thấy HTX {cooperative_id} (cooperative not found)")
            if idem is not None and snapshot.replay is not None:
                replay = snapshot.replay
                return replayed(idem, replay.request_hash, replay.status_code, replay.body)
            self._check_as_of(data)
            coop, context = snapshot.cooperative, snapshot.context
            check_registry_write(principal, context.jurisdiction, {coop.unit_code})
            return await self._write_unlocked(
                conn, principal, coop, context.previous, snapshot.top_revisions, data, idem, render, on=today
            )

    async def _write_unlocked(
        self,
        conn: asyncpg.Connection,
        principal: Principal,
        coop: Cooperative,
        previous: StatusReport | None,
        top_revisions: Mapping[str, int],
        data: StatusReportCreate,
        idem: IdempotencyKey | None,
        render: Render,
        *,
        on: date,
    ) -> Outcome | None:
        """Write the report on `coop` (a detached row at the version it was read or remembered at) in one
        statement, the agency's jurisdiction judged for the day `on` (the one the read used, if there was a read);
        None when it wrote nothing (another writer got there first, or the agency may not write it)."""
        # The time is taken after the read (or after what the read would have returned was remembered), as the
        # locked path takes it after the lock: a writer that committed before has an earlier `created_at`, so
        # reports of one period and date still sort (as_of, created_at) in commit order and the later one
        # becomes the latest. A writer that commits after the read or the remembered version moves the version,
        # and this write then applies to nothing.
        now = self.clock.now()
        seen_version = coop.version
        plan = self._plan_report(principal, coop, data, previous, top_revisions.get(data.period, 0), now)
        for key, value in plan.bump.items():  # the detached row as it will be: what the event carries
            setattr(coop, key, value)
        [event] = self.outbox.rows_for([publish.cooperative_status(coop, plan.current, now)], occurred_at=now)
        body = render(plan.report)
        keys = (
            {
                "agency": idem.agency,
                "key": idem.key,
                "endpoint": idem.endpoint,
                "request_hash": idem.request_hash,
                "status_code": 201,
                "response": body,
            }
            if idem
            else None
        )
        try:
            written = await self._report_if_unchanged.write(
                conn,
                cooperative_id=coop.id,
                seen_version=seen_version,
                report=plan.values,
                version=plan.bump,
                audit=plan.audit,
                outbox_row=event,
                idempotency=keys,
                agency=principal.agency,
                on=on,
            )
        except asyncpg.UniqueViolationError as exc:
            # A safety net, not the usual race: a concurrent request with the same key, or a report of the same
            # revision, also bumped the version, so the version check stops the write first. Should a writer
            # ever not, its row wins and this request is redone under the lock like any other lost race.
            if exc.constraint_name not in _RACE_CONSTRAINTS:
                raise
            log.warning("status report lost a race on %s; redone under the lock", exc.constraint_name)
            return None
        if not written:
            return None
        self.known.remember(coop, plan.current, {**top_revisions, data.period: plan.values["revision"]})
        if self.wake_relay is not None:
            self.wake_relay()
        return Outcome(201, body, replayed=False)

    async def _report_locked(
        self,
        principal: Principal,
        cooperative_id: uuid.UUID,
        data: StatusReportCreate,
        idem: IdempotencyKey | None,
        render: Render,
    ) -> Outcome:
        async with self.sessionmaker() as session, session.begin():
            # The row lock and what the report needs, in one round trip (services.registry.domain.report_context).
            coop, context = await lock_with_context(
                session, cooperative_id, data.period, principal.agency, self.clock.today()
            )
            if coop is None:
                raise NotFound(f"Không tìm thấy HTX {cooperative_id} (cooperative not found)")

            async def action() -> dict[str, Any]:
                report = await self.report_status_in(session, principal, coop, data, context)
                return render(report)

            return await run_once(session, idem, action)

    async def report_status_in(
        self,
        session: AsyncSession,
        principal: Principal,
        coop: Cooperative,
        data: StatusReportCreate,
        context: ReportContext | None = None,
    ) -> StatusReport:
        """Add a report to `coop`, which the caller loaded with a row lock in this transaction.

        `context` is what `lock_with_context` read with the lock, if still current; otherwise it is read here, after
        the lock. Then one statement writes the report, the cooperative's new version and the audit row, and the
        outbox stages the event."""
        now = self.clock.now()
        self._check_as_of(data)
        today = self.clock.today()
        if context is None or context.on != today:
            context = await read_context(session, coop.id, data.period, principal.agency, today)
        check_registry_write(principal, context.jurisdiction, {coop.unit_code})
        plan = self._plan_report(principal, coop, data, context.previous, context.top_revision, now)
        await session.flush()  # whatever the caller staged goes first (nothing, for the API: no round trip)
        await StatusReportRepository(session).add_with_new_version(plan.values, coop.id, plan.bump, plan.audit)
        for key, value in plan.bump.items():  # the loaded row now matches the database: nothing left to flush
            set_committed_value(coop, key, value)
        await self.outbox.add(session, publish.cooperative_status(coop, plan.current, now), occurred_at=now)
        return plan.report

    def _check_as_of(self, data: StatusReportCreate) -> None:
        today = self.clock.today()
        if data.as_of > today:
            raise ValidationFailed(
                f"Ngày số liệu {data.as_of:%d/%m/%Y} ở tương lai (as_of is in the future)",
                errors=[{"field": "as_of", "message": f"must not be after {today.isoformat()}"}],
            )

    def _plan_report(
        self,
        principal: Principal,
        coop: Cooperative,
        data: StatusReportCreate,
        previous: StatusReport | None,
        top_revision: int,
        now: datetime,
    ) -> _ReportPlan:
        """What adding `data` to `coop` writes, given its latest report (`previous`) and the period's highest
        revision. The caller has checked the agency's jurisdiction (`check_registry_write`), or writes with the
        statement that checks it (`report_if_unchanged`). Shared by the API's ways of writing a report (the file
        import applies the same rules to many cooperatives at once: `transfer._write`)."""
        values = {
            "id": uuid.uuid4(),
            "cooperative_id": coop.id,
            "revision": top_revision + 1,
            "reported_by_agency": principal.agency,
            "reported_by": principal.subject,
            "created_at": now,
            **{k: stored(v) for k, v in data.model_dump().items()},
        }
        report = detached(StatusReport, values)  # written by the caller, read by the renderer and the event
        current = report if previous is None or is_newer(report, previous) else previous
        version = coop.version + 1
        bump = {
            "latest_report_id": current.id,
            "classification": current.classification,
            "is_model": current.is_model,
            "version": version,
            "updated_at": now,
        }
        audit = self._audit_row(
            coop.id,
            version,
            "status_reported",
            {"period": {"old": None, "new": data.period}, "report_id": {"old": None, "new": str(report.id)}},
            principal,
            now,
        )
        return _ReportPlan(report, current, values, bump, audit)

    # -- helpers ----------------------------------------------------------------------------------------

    async def _require_unit(self, session: AsyncSession, code: str) -> None:
        if await UnitRepository(session).get(code, self.clock.today()) is None:
            raise ValidationFailed(
                f"Mã đơn vị hành chính '{code}' không tồn tại (unknown administrative unit)",
                errors=[{"field": "unit_code", "message": f"unknown administrative unit '{code}'"}],
            )

    def _audit(
        self,
        session: AsyncSession,
        coop: Cooperative,
        action: str,
        changes: dict[str, Any],
        principal: Principal,
        at: datetime,
    ) -> None:
        session.add(CooperativeChange(**self._audit_row(coop.id, coop.version, action, changes, principal, at)))

    @staticmethod
    def _audit_row(
        cooperative_id: uuid.UUID,
        version: int,
        action: str,
        changes: dict[str, Any],
        principal: Principal,
        at: datetime,
    ) -> dict[str, Any]:
        return {
            "cooperative_id": cooperative_id,
            "version": version,
            "action": action,
            "changes": changes,
            "actor": principal.subject,
            "actor_agency": principal.agency,
            "request_id": tracing.current_request_id(),
            "at": at,
        }


class CooperativeQuery:
    """Listing with filters, a stable sort and keyset cursors (pages never skip or repeat on inserts)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock

    async def page(
        self,
        *,
        unit: str | None,
        sector: str | None,
        legal_status: str | None,
        classification: str | None,
        is_model: bool | None,
        q: str | None,
        sort: str,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[tuple[Cooperative, StatusReport | None]], str | None]:
        descending = sort.startswith("-")
        key = sort.lstrip("-")
        after = None
        if cursor:
            parse = datetime.fromisoformat if key in ("updated_at", "created_at") else str
            after = decode_cursor(cursor, sort, parse)
        async with self.sessionmaker() as session:
            unit_codes = await self._units(session, unit)
            f = CooperativeFilter(
                unit_codes=unit_codes,
                sector=sector,
                legal_status=legal_status,
                classification=classification,
                is_model=is_model,
                search=fold(q) if q else None,
            )
            rows = list(
                await CooperativeRepository(session).page(
                    f, sort=key, descending=descending, limit=limit + 1, after=after
                )
            )
            more = len(rows) > limit
            rows = rows[:limit]
            latest = await StatusReportRepository(session).latest_for(
                [r.latest_report_id for r in rows if r.latest_report_id]
            )
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = encode_cursor(sort, getattr(last, SORT_ATTRS[key]), str(last.id))
        return [(r, latest.get(r.id)) for r in rows], next_cursor

    async def everything(self, *, unit: str | None) -> list[tuple[Cooperative, StatusReport | None]]:
        async with self.sessionmaker() as session:
            rows = list(
                await CooperativeRepository(session).all(CooperativeFilter(unit_codes=await self._units(session, unit)))
            )
            latest = await StatusReportRepository(session).latest_for(
                [r.latest_report_id for r in rows if r.latest_report_id]
            )
        return [(r, latest.get(r.id)) for r in rows]

    async def _units(self, session: AsyncSession, unit: str | None) -> set[str] | None:
        if unit is None:
            return None
        codes = await UnitRepository(session).within(unit, self.clock.today())
        if not codes:
            raise ValidationFailed(
                f"Mã đơn vị hành chính '{unit}' không tồn tại (unknown administrative unit)",
                errors=[{"field": "query.unit", "message": f"unknown administrative unit '{unit}'"}],
            )
        return codes


SORT_ATTRS = {
    "name": "search_name",
    "registration_code": "registration_code",
    "updated_at": "updated_at",
    "created_at": "created_at",
}
