"""Queries on administrative units and agencies. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.db.models import Agency, OrgUnit


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
