"""All registry queries. Repositories read and stage writes on the caller's session; they never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.db.models import (
    Agency,
    Cooperative,
    CooperativeChange,
    IdempotencyRecord,
    OrgUnit,
    ReportSubmission,
    StatusReport,
)


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


class CooperativeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, cooperative_id: uuid.UUID, *, for_update: bool = False) -> Cooperative | None:
        stmt = select(Cooperative).where(Cooperative.id == cooperative_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

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
