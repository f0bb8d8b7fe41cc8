"""Use cases on cooperatives and their status reports. Each opens and owns its transaction, and stages the
`registry.cooperative-status.v1` event in the outbox inside it (no dual writes)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from services.registry.db.models import Cooperative, CooperativeChange, StatusReport
from services.registry.db.repositories import (
    ChangeRepository,
    CooperativeFilter,
    CooperativeRepository,
    StatusReportRepository,
    UnitRepository,
)
from services.registry.domain.access import authorise_registry_write, check_registry_write
from services.registry.domain.idempotency import IdempotencyKey, Outcome, run_once
from services.registry.domain.inputs import CooperativeCreate, CooperativeUpdate, StatusReportCreate
from services.registry.domain.report_context import ReportContext, lock_with_context, read_context
from services.registry.domain.vietnamese import fold, normalise_name
from services.registry.events import publish
from shared import tracing
from shared.auth import Principal
from shared.clock import Clock
from shared.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from shared.messaging.outbox import Outbox
from shared.pagination import decode_cursor, encode_cursor

Render = Callable[[Any], dict[str, Any]]


def etag_of(coop: Cooperative) -> str:
    return etag(coop.id, coop.version)


def etag(cooperative_id: object, version: object) -> str:
    """Strong ETag naming the version a client read: `"<id>.v<version>"`."""
    return f'"{cooperative_id}.v{version}"'


def _stored(value: Any) -> Any:
    """The value as the ORM column takes it (enums by their code)."""
    return value.value if isinstance(value, Enum) else value


def _plain(value: Any) -> Any:
    """The value as the audit trail's JSON keeps it."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


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
        **{k: _stored(v) for k, v in fields.items()},
    )
    return coop, fields


class CooperativeService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.clock = clock

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
            session, coop, "created", {k: {"old": None, "new": _plain(v)} for k, v in fields.items()}, principal, now
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
            k: {"old": _plain(getattr(coop, k)), "new": _plain(v)}
            for k, v in fields.items()
            if _plain(getattr(coop, k)) != _plain(v)
        }
        latest = await StatusReportRepository(session).get(coop.latest_report_id) if coop.latest_report_id else None
        if not changes:
            return latest  # nothing changed: no new version, no event
        for key, value in fields.items():
            setattr(coop, key, _stored(value))
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
        today = self.clock.today()
        if data.as_of > today:
            raise ValidationFailed(
                f"Ngày số liệu {data.as_of:%d/%m/%Y} ở tương lai (as_of is in the future)",
                errors=[{"field": "as_of", "message": f"must not be after {today.isoformat()}"}],
            )
        if context is None or context.on != today:
            context = await read_context(session, coop.id, data.period, principal.agency, today)
        check_registry_write(principal, context.jurisdiction, {coop.unit_code})
        previous = context.previous
        revision = context.top_revision + 1
        values = {
            "id": uuid.uuid4(),
            "cooperative_id": coop.id,
            "revision": revision,
            "reported_by_agency": principal.agency,
            "reported_by": principal.subject,
            "created_at": now,
            **{k: _stored(v) for k, v in data.model_dump().items()},
        }
        report = StatusReport(**values)  # transient: written below, read by the renderer and the event builder
        current = report if previous is None or _is_newer(report, previous) else previous
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
        await session.flush()  # whatever the caller staged goes first (nothing, for the API: no round trip)
        await StatusReportRepository(session).add_with_new_version(values, coop.id, bump, audit)
        for key, value in bump.items():  # the loaded row now matches the database: nothing left to flush
            set_committed_value(coop, key, value)
        await self.outbox.add(session, publish.cooperative_status(coop, current, now), occurred_at=now)
        return report

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


def _is_newer(report: StatusReport, previous: StatusReport) -> bool:
    """Whether `report` sorts before `previous` in the latest-first order (as_of, created_at, revision desc).
    On a full tie the new report wins."""
    return (report.as_of, report.created_at, report.revision) >= (
        previous.as_of,
        previous.created_at,
        previous.revision,
    )


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
