"""The administrative tree as the indicators service knows it, read in one query.

Units are few (a city, its districts, their wards), so a use case reads the whole tree once and walks it in
memory instead of asking PostgreSQL for one parent or one level of children at a time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicators.db.models import OrgUnit

MAX_DEPTH = 20  # a chain longer than this is a broken tree, not a real hierarchy


@dataclass(frozen=True)
class OrgTree:
    parent_of: dict[str, str | None]
    children_of: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        children: dict[str, list[str]] = defaultdict(list)
        for code, parent in self.parent_of.items():
            if parent is not None:
                children[parent].append(code)
        object.__setattr__(self, "children_of", {parent: sorted(codes) for parent, codes in children.items()})

    @classmethod
    async def load(cls, session: AsyncSession) -> OrgTree:
        rows = await session.execute(select(OrgUnit.code, OrgUnit.parent_code))
        return cls({code: parent for code, parent in rows})

    def ancestors(self, unit: str) -> list[str]:
        """`unit` and every unit above it, nearest first (a unit not known here is its own only ancestor)."""
        chain: list[str] = []
        current: str | None = unit
        while current is not None and current not in chain and len(chain) < MAX_DEPTH:
            chain.append(current)
            current = self.parent_of.get(current)
        return chain

    def subtree(self, root: str) -> set[str]:
        """`root` and every unit below it."""
        units = {root}
        frontier = [root]
        while frontier:
            frontier = [child for unit in frontier for child in self.children_of.get(unit, ()) if child not in units]
            units.update(frontier)
        return units

    def districts(self, city: str) -> list[str]:
        return list(self.children_of.get(city, ()))
