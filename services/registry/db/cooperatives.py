"""Queries on cooperatives, their status reports and their audit trail. Repositories never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Insert, Select, Table, Uuid, bindparam, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from services.registry.db.models import Base, Cooperative, CooperativeChange, StatusReport

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


def _report_with_new_version() -> Insert:
    """One statement: the new report, the cooperative's new version (the columns a report changes) and the audit
    row (parameters `r_*`, `c_*` and `a_*`: one per column). Built once, since building it and computing its cache
    key per request cost more CPU than PostgreSQL spends running it."""
    reports, cooperatives, changes = _table(StatusReport), _table(Cooperative), _table(CooperativeChange)
    report = insert(reports).values(_bound(reports, "r_")).cte("new_report")
    version = (
        update(cooperatives)
        .where(cooperatives.c.id == bindparam("c_id", type_=cooperatives.c.id.type))
        .values(_bound(cooperatives, "c_", NEW_VERSION_COLUMNS))
        .cte("new_version")
    )
    return insert(changes).values(_bound(changes, "a_")).add_cte(report, version)


_REPORT_WITH_NEW_VERSION = _report_with_new_version()


class StatusReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_with_new_version(
        self, report: dict[str, Any], cooperative_id: uuid.UUID, version: dict[str, Any], audit: dict[str, Any]
    ) -> None:
        """Insert a report, set the cooperative's new version (`version`: its columns `NEW_VERSION_COLUMNS`) and
        add the audit row, in one round trip. PostgreSQL runs every part of the statement exactly once."""
        params = {"c_id": cooperative_id}
        params.update({"r_" + k: v for k, v in report.items()})
        params.update({"c_" + k: version[k] for k in NEW_VERSION_COLUMNS})
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
