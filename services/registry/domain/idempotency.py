"""`Idempotency-Key` on creates: a retry returns the first response; the same key with another body is a 422.

The record is written in the same transaction as the created resource, and a transaction-scoped advisory
lock on (agency, key, endpoint) serialises two concurrent requests with one key, so exactly one creates.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.db.models import IdempotencyRecord
from services.registry.db.repositories import IdempotencyRepository
from shared.errors import ValidationFailed


@dataclass(frozen=True)
class IdempotencyKey:
    agency: str
    key: str
    endpoint: str
    request_hash: str

    @staticmethod
    def of(agency: str, key: str | None, endpoint: str, body: Any) -> IdempotencyKey | None:
        if key is None:
            return None
        canonical = json.dumps(body, sort_keys=True, default=str, ensure_ascii=False)
        return IdempotencyKey(agency, key, endpoint, hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: dict[str, Any]
    replayed: bool


def replayed(idem: IdempotencyKey, request_hash: str, status_code: int, body: dict[str, Any]) -> Outcome:
    """The stored outcome of the first request with this key; a 422 if this request's body differs from it."""
    if request_hash != idem.request_hash:
        raise ValidationFailed(
            "Idempotency-Key đã dùng cho một yêu cầu khác (this key was used with a different body)",
            errors=[{"field": "header.Idempotency-Key", "message": "reused with a different request body"}],
        )
    return Outcome(status_code, body, replayed=True)


async def run_once(
    session: AsyncSession,
    idem: IdempotencyKey | None,
    action: Callable[[], Awaitable[dict[str, Any]]],
    *,
    status_code: int = 201,
) -> Outcome:
    """Run `action` (which returns the response body) unless this key already ran; caller holds the transaction."""
    if idem is None:
        return Outcome(status_code, await action(), replayed=False)
    lock = zlib.crc32(f"{idem.agency}|{idem.key}|{idem.endpoint}".encode())
    await session.execute(select(func.pg_advisory_xact_lock(lock)))
    previous = await IdempotencyRepository(session).find(idem.agency, idem.key, idem.endpoint)
    if previous is not None:
        return replayed(idem, previous.request_hash, previous.status_code, previous.response)
    body = await action()
    session.add(
        IdempotencyRecord(
            agency=idem.agency,
            key=idem.key,
            endpoint=idem.endpoint,
            request_hash=idem.request_hash,
            status_code=status_code,
            response=body,
        )
    )
    return Outcome(status_code, body, replayed=False)
