"""Bulk import and export of cooperatives as one CSV or XLSX sheet with Vietnamese headers.

The sheet's columns and cell formats are in transfer_columns, CSV/XLSX reading and writing in transfer_files,
the row checks in transfer_checks; this module holds the use cases and their writes.

Import is an upsert by registration code ("Mã số HTX"), all or nothing, in one transaction:

1. Every row is checked before anything is written: cell formats, the input models the API uses
   (CooperativeCreate, CooperativeUpdate, StatusReportCreate), registration codes repeated in the file,
   unknown administrative units, status dates in the future, and the caller's jurisdiction. If any row is bad
   the import is refused with ONE 422 problem listing every bad row as ``{row, column, field, message_vi,
   message, code}``; ``row`` is the sheet's own row number (the header is row 1). Header problems (unknown,
   repeated or missing headers) are listed the same way on row 1.
2. A row outside the caller's jurisdiction is such a bad row (``code: "outside_jurisdiction"``), not a 403
   for the whole request, so the agency learns in one answer which rows to take out. Only rows that would
   change something need jurisdiction: a district may re-import a city-wide export after editing its own
   rows. An agency that does not keep the registry at all still gets 403, like the API.
3. Then a new code creates the cooperative (with its first status report when the status cells are filled);
   a known code updates the profile fields that differ and adds a status report when the status cells are
   filled and differ from the latest report of that period (same period, same values → nothing). The audit
   rows are the ones the API writes (created / updated / status_reported, with the request id), and every
   changed cooperative gets exactly ONE ``registry.cooperative-status.v1`` event with its final state.

Columns: "Mã số HTX", "Tên HTX", "Mã đơn vị hành chính" and "Lĩnh vực" are required headers; the status
headers come all together or not at all. A row whose status cells are all blank carries no report. A blank
optional profile cell (address, contact…) clears that field; a blank name, unit, sector or legal status keeps
the current value (on a new cooperative: an error, or "đang hoạt động" for the legal status). Empty rows are
skipped. The 10,000-row case is why the writes are staged in bulk here rather than row by row through
CooperativeService: the checks (unit, jurisdiction, latest report) run once for the file, not once per row.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.db.cooperatives import StatusReportRepository
from services.registry.db.models import Cooperative, CooperativeChange, StatusReport
from services.registry.db.reference import UnitRepository
from services.registry.domain.access import authorise_registry_write
from services.registry.domain.audit import audit_row
from services.registry.domain.cooperative_query import CooperativeQuery
from services.registry.domain.cooperatives import new_cooperative
from services.registry.domain.inputs import StatusReportCreate
from services.registry.domain.reporting import decide_report
from services.registry.domain.transfer_checks import (
    RowError,
    RowInput,
    RowPlan,
    check_rows,
    read_and_parse,
    refusal,
    row_error,
)
from services.registry.domain.transfer_columns import BY_FIELD, COLUMNS, Column, Part
from services.registry.domain.transfer_files import write_csv, write_xlsx
from services.registry.domain.values import plain, stored
from services.registry.domain.vietnamese import fold, normalise_name
from services.registry.events import publish
from shared.auth import Principal
from shared.clock import Clock
from shared.errors import Conflict, Forbidden
from shared.messaging.outbox import Outbox

Format = Literal["csv", "xlsx"]
CHUNK = 5000  # bind parameters per IN (…); asyncpg allows 32767
T = TypeVar("T")


@dataclass(frozen=True)
class ImportSummary:
    dry_run: bool
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    status_reports_added: int = 0


# -- the use cases --------------------------------------------------------------------------------------------


@dataclass
class _Change:
    plan: RowPlan
    coop: Cooperative | None  # None: a new cooperative
    profile: dict[str, dict[str, Any]] = field(default_factory=dict)  # audit: field → {old, new}
    values: dict[str, Any] = field(default_factory=dict)  # the profile values to set
    status: StatusReportCreate | None = None  # the report to add, if any
    top_revision: int = 0  # the highest revision of the report's period so far
    latest: StatusReport | None = None  # the cooperative's latest report before the import

    @property
    def changes_anything(self) -> bool:
        return self.coop is None or bool(self.profile) or self.status is not None


class CooperativeTransfer:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.clock = clock

    async def import_file(
        self,
        principal: Principal,
        data: bytes,
        *,
        filename: str | None,
        content_type: str | None,
        dry_run: bool,
        max_rows: int,
    ) -> ImportSummary:
        # Reading and checking are CPU work (openpyxl, pydantic): off the event loop, so the relay and other
        # requests keep running while a large file is read.
        parsed = await asyncio.to_thread(read_and_parse, data, filename, content_type, max_rows)
        today, now = self.clock.today(), self.clock.now()
        async with self.sessionmaker() as session, session.begin():
            codes = sorted({r.code for r in parsed.rows if r.code})
            existing = await _cooperatives_by_code(session, codes, lock=not dry_run)
            units = {u.code for u in await UnitRepository(session).list(today)}
            known = {code: coop.unit_code for code, coop in existing.items()}
            plans, errors = await asyncio.to_thread(check_rows, parsed.rows, known, units, today)
            changes = await _diff(session, plans, existing)
            errors = parsed.errors + errors
            errors += await _outside_jurisdiction(session, principal, parsed.rows, changes, existing, units, today)
            if errors:
                raise refusal(errors)
            summary = ImportSummary(
                dry_run=dry_run,
                rows=len(parsed.rows),
                created=sum(1 for c in changes if c.coop is None),
                updated=sum(1 for c in changes if c.coop is not None and c.changes_anything),
                unchanged=sum(1 for c in changes if not c.changes_anything),
                status_reports_added=sum(1 for c in changes if c.status is not None),
            )
            if not dry_run:
                try:
                    await self._write(session, principal, [c for c in changes if c.changes_anything], now)
                except IntegrityError as exc:
                    if "registration_code" not in str(exc.orig):
                        raise
                    raise Conflict(
                        "Một mã số HTX trong tệp vừa được đăng ký bởi yêu cầu khác; hãy nhập lại "
                        "(a registration code in the file was registered concurrently; import again)"
                    ) from exc
        return summary

    async def export(self, *, unit: str | None, fmt: Format) -> bytes:
        pairs = await CooperativeQuery(self.sessionmaker, self.clock).everything(unit=unit)
        table = [[_value(column, coop, latest) for column in COLUMNS] for coop, latest in pairs]
        return await asyncio.to_thread(write_xlsx if fmt == "xlsx" else write_csv, table)

    async def _write(self, session: AsyncSession, principal: Principal, changes: list[_Change], now: datetime) -> None:
        """The effects of the API's create, update and status report, staged for many cooperatives at once.

        New rows go in as batched INSERTs (the unit of work would cost ~0.1 ms per object); the cooperatives
        that already exist are loaded, so their changes are flushed as ORM updates.
        """
        new: list[Cooperative] = []  # transient: inserted in bulk, and read by the event builder
        reports: list[StatusReport] = []
        audits: list[dict[str, Any]] = []
        final: list[tuple[Cooperative, StatusReport | None]] = []

        def audit(coop: Cooperative, action: str, changed: dict[str, Any]) -> None:
            audits.append(audit_row(coop.id, coop.version, action, changed, principal, now))

        for change in changes:
            coop = change.coop
            if coop is None:
                assert change.plan.create is not None
                coop, fields = new_cooperative(change.plan.create, now)
                new.append(coop)
                audit(coop, "created", {k: {"old": None, "new": plain(v)} for k, v in fields.items()})
            elif change.profile:
                for key, value in change.values.items():
                    setattr(coop, key, stored(value))
                coop.search_name = fold(coop.name)
                coop.version += 1
                coop.updated_at = now
                audit(coop, "updated", change.profile)
            current = change.latest
            if change.status is not None:
                # The same decision as a report over the API (reporting.decide_report).
                decision = decide_report(
                    coop.id,
                    change.status,
                    previous=current,
                    top_revision=change.top_revision,
                    reporter=principal,
                    now=now,
                )
                reports.append(decision.report)
                current = decision.latest
                for key, value in decision.new_version(coop.version, now).items():
                    setattr(coop, key, value)
                audit(coop, "status_reported", decision.audit_changes())
            final.append((coop, current))
        if new:
            await session.execute(insert(Cooperative), _rows(Cooperative, new))
        await session.flush()  # the updates of the cooperatives that already existed
        if reports:
            await session.execute(insert(StatusReport), _rows(StatusReport, reports))
        if audits:
            await session.execute(insert(CooperativeChange), audits)
        events = [publish.cooperative_status(c, r, now) for c, r in final]
        await self.outbox.add_many(session, events, occurred_at=now)


def _rows(model: type[Cooperative] | type[StatusReport], objects: list[Any]) -> list[dict[str, Any]]:
    keys = [attr.key for attr in model.__mapper__.column_attrs]
    return [{key: getattr(obj, key) for key in keys} for obj in objects]


def _value(column: Column, coop: Cooperative, latest: StatusReport | None) -> Any:
    if column.part is Part.profile:
        return getattr(coop, column.field)
    return getattr(latest, column.field) if latest is not None else None


def _same_report(new: StatusReportCreate, old: StatusReport) -> bool:
    for name in StatusReportCreate.model_fields:
        ours, theirs = stored(getattr(new, name)), getattr(old, name)
        if isinstance(ours, list):
            theirs = list(theirs or [])
        if ours != theirs:
            return False
    return True


async def _diff(session: AsyncSession, plans: list[RowPlan], existing: dict[str, Cooperative]) -> list[_Change]:
    """What each valid row would change. A report equal to the cooperative's latest one, or to the latest
    revision of its own period, is not added again (so an export, even an older one, re-imports as is)."""
    latest = await _latest_reports(session, [existing[p.code] for p in plans if p.code in existing])
    changes: list[_Change] = []
    for plan in plans:
        coop = existing.get(plan.code)
        if coop is None:
            changes.append(_Change(plan, None, status=plan.status))
            continue
        values = {k: normalise_name(v) if k == "name" else v for k, v in plan.update.items()}
        profile = {
            k: {"old": plain(getattr(coop, k)), "new": plain(v)}
            for k, v in values.items()
            if plain(getattr(coop, k)) != plain(v)
        }
        change = _Change(plan, coop, profile, {k: values[k] for k in profile}, latest=latest.get(coop.id))
        if plan.status is not None and not (change.latest and _same_report(plan.status, change.latest)):
            change.status = plan.status
        changes.append(change)
    # Only the reports that differ from the latest one need their period's last revision.
    differing = [c for c in changes if c.coop is not None and c.status is not None]
    previous = await _latest_of_periods(
        session, [c.coop.id for c in differing if c.coop], {c.status.period for c in differing if c.status}
    )
    for change in differing:
        assert change.coop is not None and change.status is not None
        last = previous.get((change.coop.id, change.status.period))
        if last is not None and _same_report(change.status, last):
            change.status = None
        else:
            change.top_revision = last.revision if last is not None else 0
    return changes


async def _outside_jurisdiction(
    session: AsyncSession,
    principal: Principal,
    rows: list[RowInput],
    changes: list[_Change],
    existing: dict[str, Cooperative],
    units: set[str],
    today: date,
) -> list[RowError]:
    """Rows that would write outside the caller's jurisdiction (unchanged rows need none; bad rows are counted)."""
    unchanged = {c.plan.row for c in changes if not c.changes_anything}
    needed: dict[int, set[str]] = {}
    for row in rows:
        if row.row in unchanged or row.code is None:
            continue
        touched = {existing[row.code].unit_code} if row.code in existing else set()
        if row.profile.get("unit_code") in units:
            touched.add(row.profile["unit_code"])
        needed[row.row] = touched
    try:
        await authorise_registry_write(session, principal, set().union(*needed.values()), today)
    except Forbidden as exc:
        if "units" not in exc.extra:
            raise  # the agency may not write the registry at all: 403 for the whole file
        outside = set(exc.extra["units"])
        column = BY_FIELD["unit_code"]
        return [
            row_error(
                number,
                column,
                f"Đơn vị {', '.join(sorted(touched & outside))} nằm ngoài địa bàn quản lý của {principal.agency}",
                f"unit {', '.join(sorted(touched & outside))} is outside {principal.agency}'s jurisdiction",
                "outside_jurisdiction",
            )
            for number, touched in needed.items()
            if touched & outside
        ]
    return []


# -- queries the import needs in bulk ---------------------------------------------------------------------------
# (Kept here, next to their only user: the repositories have no locked or per-period bulk reads.)


async def _cooperatives_by_code(session: AsyncSession, codes: list[str], *, lock: bool) -> dict[str, Cooperative]:
    """Like CooperativeRepository.by_registration_codes, chunked, and locked so no API update interleaves."""
    found: dict[str, Cooperative] = {}
    for chunk in _chunks(codes):
        stmt = select(Cooperative).where(Cooperative.registration_code.in_(chunk)).order_by(Cooperative.id)
        if lock:
            stmt = stmt.with_for_update()
        found.update({c.registration_code: c for c in await session.scalars(stmt)})
    return found


async def _latest_of_periods(
    session: AsyncSession, cooperative_ids: list[uuid.UUID], periods: set[str]
) -> dict[tuple[uuid.UUID, str], StatusReport]:
    """The latest revision of each (cooperative, period)."""
    found: dict[tuple[uuid.UUID, str], StatusReport] = {}
    for chunk in _chunks(cooperative_ids):
        stmt = (
            select(StatusReport)
            .ext(distinct_on(StatusReport.cooperative_id, StatusReport.period))
            .where(StatusReport.cooperative_id.in_(chunk), StatusReport.period.in_(periods))
            .order_by(StatusReport.cooperative_id, StatusReport.period, StatusReport.revision.desc())
        )
        found.update({(r.cooperative_id, r.period): r for r in await session.scalars(stmt)})
    return found


async def _latest_reports(session: AsyncSession, coops: list[Cooperative]) -> dict[uuid.UUID, StatusReport]:
    ids = [c.latest_report_id for c in coops if c.latest_report_id is not None]
    found: dict[uuid.UUID, StatusReport] = {}
    for chunk in _chunks(ids):
        found.update(await StatusReportRepository(session).latest_for(chunk))
    return found


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
