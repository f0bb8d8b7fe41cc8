"""Queries on agencies' report submissions. Repositories never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.db.models import ReportSubmission


class SubmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, submission_id: uuid.UUID) -> ReportSubmission | None:
        return await self.session.get(ReportSubmission, submission_id)

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
