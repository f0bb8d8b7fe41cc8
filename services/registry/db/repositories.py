"""All registry queries. Repositories read and stage writes on the caller's session; they never commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import asyncpg
from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    Uuid,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from services.registry.db.models import (
    Agency,
    Base,
    Cooperative,
    CooperativeChange,
    IdempotencyRecord,
    OrgUnit,
    ReportSubmission,
    StatusReport,
)
from shared import jsoncodec
from shared.db import DriverStatement
from shared.messaging.outbox import ROW_COLUMNS


def _valid_on(on: date) -> Any:
    return and_(OrgUnit.valid_from <= on, or_(OrgUnit.valid_to.is_(None), OrgUnit.valid_to > on))


class UnitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, on: date, *, level: str | None = None, parent: str | None = None) -> Sequence[OrgUnit]:
        stmt = select(OrgUnit).where(_valid_on(on)).order_by(OrgUnit.code)
        if level:
            stmt = stmt.where(OrgUnit.level == level)
        if parent:
            stmt = stmt.where(OrgUnit.parent_code == parent)
        return (await self.session.scalars(stmt)).all()

    async def get(self, code: str, on: date) -> OrgUnit | None:
        return await self.session.scalar(select(OrgUnit).where(OrgUnit.code == code, _valid_on(on)))

    async def all_versions(self) -> Sequence[OrgUnit]:
        return (await self.session.scalars(select(OrgUnit))).all()

    async def within(self, root: str, on: date) -> set[str]:
        """`root` and every unit under it (any depth) valid on `on`."""
        tree = select(OrgUnit.code).where(OrgUnit.code == root, _valid_on(on)).cte("tree", recursive=True)
        child = select(OrgUnit.code).join(tree, OrgUnit.parent_code == tree.c.code).where(_valid_on(on))
        tree = tree.union(child)
        return set((await self.session.scalars(select(tree.c.code))).all())


class AgencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, code: str) -> Agency | None:
        return await self.session.get(Agency, code)

    async def list(self) -> Sequence[Agency]:
        return (await self.session.scalars(select(Agency).order_by(Agency.code))).all()


SORTS: dict[str, Any] = {
    "name": Cooperative.search_name,
    "registration_code": Cooperative.registration_code,
    "updated_at": Cooperative.updated_at,
    "created_at": Cooperative.created_at,
}


@dataclass(frozen=True)
class CooperativeFilter:
    unit_codes: set[str] | None = None
    sector: str | None = None
    legal_status: str | None = None
    classification: str | None = None
    is_model: bool | None = None
    search: str | None = None


# Built once (parameter `id`): the write path runs them on every request.
_COOPERATIVE_BY_ID = select(Cooperative).where(Cooperative.id == bindparam("id", type_=Uuid))
_COOPERATIVE_BY_ID_FOR_UPDATE = _COOPERATIVE_BY_ID.with_for_update()


class CooperativeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, cooperative_id: uuid.UUID, *, for_update: bool = False) -> Cooperative | None:
        stmt = _COOPERATIVE_BY_ID_FOR_UPDATE if for_update else _COOPERATIVE_BY_ID
        return await self.session.scalar(stmt, {"id": cooperative_id})

    async def by_registration_codes(self, codes: Sequence[str]) -> dict[str, Cooperative]:
        if not codes:
            return {}
        rows = await self.session.scalars(select(Cooperative).where(Cooperative.registration_code.in_(codes)))
        return {c.registration_code: c for c in rows}

    def _filtered(self, f: CooperativeFilter) -> Select[Cooperative]:
        stmt = select(Cooperative)
        if f.unit_codes is not None:
            stmt = stmt.where(Cooperative.unit_code.in_(f.unit_codes))
        if f.sector:
            stmt = stmt.where(Cooperative.sector == f.sector)
        if f.legal_status:
            stmt = stmt.where(Cooperative.legal_status == f.legal_status)
        if f.classification:
            stmt = stmt.where(Cooperative.classification == f.classification)
        if f.is_model is not None:
            stmt = stmt.where(Cooperative.is_model.is_(f.is_model))
        if f.search:
            # Diacritic-free substring match on the folded name (and the registration code).
            pattern = "%" + f.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(
                or_(
                    Cooperative.search_name.like(pattern, escape="\\"),
                    Cooperative.registration_code.like(pattern, escape="\\"),
                )
            )
        return stmt

    async def page(
        self, f: CooperativeFilter, *, sort: str, descending: bool, limit: int, after: tuple[Any, uuid.UUID] | None
    ) -> Sequence[Cooperative]:
        column = SORTS[sort]
        stmt = self._filtered(f)
        if after is not None:
            key = tuple_(column, Cooperative.id)
            bound = tuple_(literal(after[0], type_=column.type), literal(after[1]))
            stmt = stmt.where(key < bound if descending else key > bound)
        order = (column.desc(), Cooperative.id.desc()) if descending else (column.asc(), Cooperative.id.asc())
        return (await self.session.scalars(stmt.order_by(*order).limit(limit))).all()

    async def all(self, f: CooperativeFilter) -> Sequence[Cooperative]:
        return (await self.session.scalars(self._filtered(f).order_by(Cooperative.registration_code))).all()


def _bound(table: Table, prefix: str, names: Sequence[str] | None = None) -> dict[str, BindParameter[Any]]:
    """`{column: :prefix_column}` for `names` (default: every column the database does not number itself), typed
    as the column."""
    if names:
        columns = [c for c in table.columns if c.name in names]
    else:
        columns = [c for c in table.columns if c is not table.autoincrement_column]
    return {c.name: bindparam(prefix + c.name, type_=c.type) for c in columns}


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)  # SQLAlchemy types `__table__` as a mere FromClause


_NEW_VERSION_COLUMNS = ("latest_report_id", "classification", "is_model", "version", "updated_at")


def _report_with_new_version() -> Insert:
    """One statement: the new report, the cooperative's new version (the columns a report changes) and the audit
    row (parameters `r_*`, `c_*` and `a_*`: one per column). Built once, since building it and computing its cache
    key per request cost more CPU than PostgreSQL spends running it."""
    reports, cooperatives, changes = _table(StatusReport), _table(Cooperative), _table(CooperativeChange)
    report = insert(reports).values(_bound(reports, "r_")).cte("new_report")
    version = (
        update(cooperatives)
        .where(cooperatives.c.id == bindparam("c_id", type_=cooperatives.c.id.type))
        .values(_bound(cooperatives, "c_", _NEW_VERSION_COLUMNS))
        .cte("new_version")
    )
    return insert(changes).values(_bound(changes, "a_")).add_cte(report, version)


_REPORT_WITH_NEW_VERSION = _report_with_new_version()

_IDEMPOTENCY_COLUMNS = ("agency", "key", "endpoint", "request_hash", "status_code", "response")


def report_if_unchanged(
    outbox: Table, channel: str | None, may_write: Callable[[ColumnElement[Any]], ColumnElement[bool]]
) -> Select[Any]:
    """The whole of a status report as one statement, hence one transaction, with no lock held in between: *if*
    the cooperative is still at version `c_seen_version` and the agency may write it (`may_write`: a condition
    on the cooperative's unit, `access.may_write_in_sql`, with its parameters `agency` and `on`), set its new
    version, insert the report, the audit row, the Idempotency-Key's outcome (when `k_key` is not NULL) and the
    outbox row, and wake the relay by NOTIFY on `channel` (None: the caller wakes it, see `ReportIfUnchanged`).
    Returns one row when it wrote, none when another writer got there first or the agency may not write (then
    nothing is written).

    The UPDATE takes the row lock; if it has to wait for a concurrent writer, PostgreSQL re-checks the version on
    the row that writer committed, so a report read before that commit can never be written after it. Parameters:
    `c_*`, `r_*`, `a_*`, `k_*`, `o_*` (the outbox row: `shared.messaging.outbox.ROW_COLUMNS`)."""
    reports, cooperatives, changes = _table(StatusReport), _table(Cooperative), _table(CooperativeChange)
    # The agency may still write this cooperative today (`access.may_write_in_sql`): the check travels with the
    # write, so a report planned from what this process remembers (`report_cache`) needs no read first, and one
    # planned from a read cannot outrun a change of jurisdiction in between.
    bumped = (
        update(cooperatives)
        .where(
            cooperatives.c.id == bindparam("c_id", type_=cooperatives.c.id.type),
            cooperatives.c.version == bindparam("c_seen_version", type_=cooperatives.c.version.type),
            may_write(cooperatives.c.unit_code),
        )
        .values(_bound(cooperatives, "c_", _NEW_VERSION_COLUMNS))
        .returning(cooperatives.c.id)
        .cte("bumped")
    )

    def once_bumped(
        table: Table, prefix: str, names: Sequence[str] | None = None, only_with: str | None = None
    ) -> Insert:
        values = _bound(table, prefix, names)
        rows = select(*values.values()).select_from(bumped)
        if only_with is not None:
            rows = rows.where(values[only_with].is_not(None))
        return insert(table).from_select(list(values), rows)

    report = once_bumped(reports, "r_").cte("new_report")
    audit = once_bumped(changes, "a_").cte("audit")
    replay = once_bumped(_table(IdempotencyRecord), "k_", _IDEMPOTENCY_COLUMNS, only_with="key").cte("replay")
    staged = once_bumped(outbox, "o_", ROW_COLUMNS).returning(outbox.c.id).cte("staged")
    if channel is None:
        return select(staged.c.id).add_cte(report, audit, replay)
    notify = select(func.pg_notify(literal(channel), literal(""))).select_from(staged)
    return notify.add_cte(report, audit, replay)


class ReportIfUnchanged:
    """`report_if_unchanged`, compiled once for one outbox and run on a driver connection (`shared.db`).

    With `notify=False` the statement sends no NOTIFY: for a process whose own relay publishes the row and is
    woken in process. A NOTIFY per report cost a third of the write path's throughput: PostgreSQL serialises
    the commits of notifying transactions on one database-wide lock, and the relay's listener then took a
    message per commit (docs/performance.md, fix 25)."""

    def __init__(
        self,
        outbox: Table,
        channel: str,
        may_write: Callable[[ColumnElement[Any]], ColumnElement[bool]],
        *,
        notify: bool = True,
    ) -> None:
        self.statement = DriverStatement.of(report_if_unchanged(outbox, channel if notify else None, may_write))

    async def write(
        self,
        conn: asyncpg.Connection,
        *,
        cooperative_id: uuid.UUID,
        seen_version: int,
        report: dict[str, Any],
        version: dict[str, Any],
        audit: dict[str, Any],
        outbox_row: dict[str, Any],
        idempotency: dict[str, Any] | None,
        agency: str,
        on: date,
    ) -> bool:
        """Whether it wrote (False: the cooperative is no longer at `seen_version`, or `agency` may not write it
        on `on`; nothing was written). JSON columns go to the driver as JSON text, as the engine's codecs expect."""
        params: dict[str, Any] = {"c_id": cooperative_id, "c_seen_version": seen_version, "agency": agency, "on": on}
        params.update({"r_" + k: v for k, v in report.items()})
        params.update({"c_" + k: version[k] for k in _NEW_VERSION_COLUMNS})
        params.update({"a_" + k: v for k, v in audit.items()})
        params["a_changes"] = jsoncodec.dumps_text(audit["changes"])
        params.update({"o_" + k: v for k, v in outbox_row.items()})
        params["o_payload"] = jsoncodec.dumps_text(outbox_row["payload"])
        key = idempotency or {}
        params.update({"k_" + k: key.get(k) for k in _IDEMPOTENCY_COLUMNS})
        if idempotency is not None:
            params["k_response"] = jsoncodec.dumps_text(idempotency["response"])
        return bool(await self.statement.fetch(conn, params))


class StatusReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_with_new_version(
        self, report: dict[str, Any], cooperative_id: uuid.UUID, version: dict[str, Any], audit: dict[str, Any]
    ) -> None:
        """Insert a report, set the cooperative's new version (`version`: its columns `_NEW_VERSION_COLUMNS`) and
        add the audit row, in one round trip. PostgreSQL runs every part of the statement exactly once."""
        params = {"c_id": cooperative_id}
        params.update({"r_" + k: v for k, v in report.items()})
        params.update({"c_" + k: version[k] for k in _NEW_VERSION_COLUMNS})
        params.update({"a_" + k: v for k, v in audit.items()})
        await self.session.execute(_REPORT_WITH_NEW_VERSION, params)

    async def get(self, report_id: uuid.UUID) -> StatusReport | None:
        return await self.session.get(StatusReport, report_id)

    async def history(self, cooperative_id: uuid.UUID, limit: int | None = None) -> Sequence[StatusReport]:
        stmt = (
            select(StatusReport)
            .where(StatusReport.cooperative_id == cooperative_id)
            .order_by(StatusReport.as_of.desc(), StatusReport.revision.desc())
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def latest(self, cooperative_id: uuid.UUID) -> StatusReport | None:
        stmt = (
            select(StatusReport)
            .where(StatusReport.cooperative_id == cooperative_id)
            .order_by(StatusReport.as_of.desc(), StatusReport.created_at.desc(), StatusReport.revision.desc())
            .limit(1)
        )
        return await self.session.scalar(stmt)

    async def latest_for(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StatusReport]:
        if not ids:
            return {}
        rows = await self.session.scalars(select(StatusReport).where(StatusReport.id.in_(ids)))
        return {r.cooperative_id: r for r in rows}

    async def next_revision(self, cooperative_id: uuid.UUID, period: str) -> int:
        current = await self.session.scalar(
            select(func.max(StatusReport.revision)).where(
                StatusReport.cooperative_id == cooperative_id, StatusReport.period == period
            )
        )
        return int(current or 0) + 1


class ChangeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def history(
        self, cooperative_id: uuid.UUID, *, limit: int | None = None, before: int | None = None
    ) -> Sequence[CooperativeChange]:
        stmt = (
            select(CooperativeChange)
            .where(CooperativeChange.cooperative_id == cooperative_id)
            .order_by(CooperativeChange.id.desc())
            .limit(limit)
        )
        if before is not None:
            stmt = stmt.where(CooperativeChange.id < before)
        return (await self.session.scalars(stmt)).all()


class SubmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(
        self, *, agency: str | None, kind: str | None, period: str | None, limit: int, after: uuid.UUID | None
    ) -> Sequence[ReportSubmission]:
        stmt = select(ReportSubmission)
        if agency:
            stmt = stmt.where(ReportSubmission.agency_code == agency)
        if kind:
            stmt = stmt.where(ReportSubmission.kind == kind)
        if period:
            stmt = stmt.where(ReportSubmission.period == period)
        if after:
            stmt = stmt.where(ReportSubmission.id > after)
        return (await self.session.scalars(stmt.order_by(ReportSubmission.id).limit(limit))).all()


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, agency: str, key: str, endpoint: str) -> IdempotencyRecord | None:
        return await self.session.get(IdempotencyRecord, (agency, key, endpoint))
