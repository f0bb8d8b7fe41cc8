"""The records of `Idempotency-Key`s. Repositories never commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.db.models import IdempotencyRecord


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, agency: str, key: str, endpoint: str) -> IdempotencyRecord | None:
        return await self.session.get(IdempotencyRecord, (agency, key, endpoint))
