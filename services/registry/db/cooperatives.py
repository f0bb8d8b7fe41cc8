"""Queries on cooperatives, their status reports and their audit trail. Repositories never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, Uuid, bindparam, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import BindParameter

from services.registry.db.models import Base, Cooperative, CooperativeChange, IdempotencyRecord, StatusReport
from shared.messaging.outbox import ROW_COLUMNS

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


NEW_VERSION_COLUMNS = ("latest_report_id", "classification", "is_model", "version", "updated_at")


def report_if_unchanged(outbox: Table, channel: str | None) -> Select[Any]:
    """A status report's whole write as one statement, hence one transaction: *if* the cooperative is still at
    version `c_seen_version`, set its new version (`NEW_VERSION_COLUMNS`), insert the report, the audit row, the
    Idempotency-Key's record (when `k_key` is not NULL) and the outbox row, and NOTIFY `channel` (None: the relay
    of this process is woken by the caller). One row back when it wrote; none when another writer changed the
    cooperative since it was read (then nothing is written).

    The UPDATE takes the row lock; if it has to wait for a concurrent writer, PostgreSQL re-checks the version on
    the row that writer committed, so a report decided on an older version is never written after a newer one.
    Parameters: `c_*`, `r_*`, `a_*`, `k_*` and `o_*` (the outbox row: `shared.messaging.outbox.ROW_COLUMNS`)."""
    reports, cooperatives, changes = _table(StatusReport), _table(Cooperative), _table(CooperativeChange)
    bumped = (
        update(cooperatives)
        .where(
            cooperatives.c.id == bindparam("c_id", type_=cooperatives.c.id.type),
            cooperatives.c.version == bindparam("c_seen_version", type_=cooperatives.c.version.type),
        )
        .values(_bound(cooperatives, "c_", NEW_VERSION_COLUMNS))
        .returning(cooperatives.c.id)
        .cte("bumped")
    )

    def once_bumped(table: Table, prefix: str, names: Sequence[str] | None = None, when: str | None = None) -> Insert:
        values = _bound(table, prefix, names)
        rows = select(*values.values()).select_from(bumped)
        if when is not None:
            rows = rows.where(values[when].is_not(None))
        return insert(table).from_select(list(values), rows)

    report = once_bumped(reports, "r_").cte("new_report")
    audit = once_bumped(changes, "a_").cte("audit")
    key = once_bumped(_table(IdempotencyRecord), "k_", IDEMPOTENCY_COLUMNS, when="key").cte("idempotency")
    staged = once_bumped(outbox, "o_", ROW_COLUMNS).returning(outbox.c.id).cte("staged")
    if channel is None:
        return select(staged.c.id).add_cte(report, audit, key)
    return select(func.pg_notify(literal(channel), literal(""))).select_from(staged).add_cte(report, audit, key)


IDEMPOTENCY_COLUMNS = ("agency", "key", "endpoint", "request_hash", "status_code", "response")


async def read_report(conn: AsyncConnection, report_id: uuid.UUID) -> StatusReport | None:
    """A report read on a connection (a statement of its own), not attached to a session."""
    row = (await conn.execute(select(_table(StatusReport)).where(_table(StatusReport).c.id == report_id))).first()
    return StatusReport(**row._asdict()) if row is not None else None


class StatusReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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

    async def latest_for(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StatusReport]:
        if not ids:
            return {}
        rows = await self.session.scalars(select(StatusReport).where(StatusReport.id.in_(ids)))
        return {r.cooperative_id: r for r in rows}


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
