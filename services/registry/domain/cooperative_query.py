"""Listing cooperatives: filters, a stable sort and keyset cursors (pages never skip or repeat on inserts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.db.cooperatives import CooperativeFilter, CooperativeRepository, StatusReportRepository
from services.registry.db.models import Cooperative, StatusReport
from services.registry.db.reference import UnitRepository
from services.registry.domain.vietnamese import fold
from shared.clock import Clock
from shared.errors import ValidationFailed
from shared.pagination import decode_cursor, encode_cursor


class CooperativeQuery:
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
