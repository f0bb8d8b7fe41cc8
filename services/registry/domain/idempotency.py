"""`Idempotency-Key` on creates: a retry returns what the first request created; the same key with another
body is a 422.

The key's record is written in the same transaction as the created resource and names it by id; a retry reads
the resource again and the API renders it as it renders any other. Two concurrent requests with one key create
once: a transaction-scoped advisory lock on (agency, key, endpoint) serialises them, or, for a status report,
the cooperative's version, which only one of them can move.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zlib
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.db.idempotency import IdempotencyRepository
from services.registry.db.models import IdempotencyRecord
from shared.errors import ValidationFailed

T = TypeVar("T")


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
class Earlier:
    """What a key recorded: the hash of the request that used it, and the id of what that request created."""

    request_hash: str
    response: dict[str, Any]


def replay_of(idem: IdempotencyKey, earlier: Earlier) -> uuid.UUID:
    """The id of what the key's first request created; a 422 if this request's body differs from that one's."""
    if earlier.request_hash != idem.request_hash:
        raise ValidationFailed(
            "Idempotency-Key đã dùng cho một yêu cầu khác (this key was used with a different body)",
            errors=[{"field": "header.Idempotency-Key", "message": "reused with a different request body"}],
        )
    return uuid.UUID(str(earlier.response["id"]))


def record_of(idem: IdempotencyKey, resource_id: uuid.UUID) -> dict[str, Any]:
    """The key's record (`IdempotencyRecord`'s columns): it names what the request created."""
    return {
        "agency": idem.agency,
        "key": idem.key,
        "endpoint": idem.endpoint,
        "request_hash": idem.request_hash,
        "status_code": 201,
        "response": {"id": str(resource_id)},
    }


@dataclass(frozen=True)
class Created(Generic[T]):
    """What a create use case returns: the resource, and whether an earlier request with the key created it."""

    resource: T
    replayed: bool = False


async def created_before(session: AsyncSession, idem: IdempotencyKey | None) -> uuid.UUID | None:
    """The id of what an earlier request with this key created, or None (then the caller creates, and
    :func:`remember` it). Holds the key's lock until the caller's transaction ends."""
    if idem is None:
        return None
    lock = zlib.crc32(f"{idem.agency}|{idem.key}|{idem.endpoint}".encode())
    await session.execute(select(func.pg_advisory_xact_lock(lock)))
    previous = await IdempotencyRepository(session).find(idem.agency, idem.key, idem.endpoint)
    if previous is None:
        return None
    return replay_of(idem, Earlier(previous.request_hash, previous.response))


def remember(session: AsyncSession, idem: IdempotencyKey | None, resource_id: uuid.UUID) -> None:
    """Keep the key with the id of what it created, in the caller's transaction."""
    if idem is not None:
        session.add(IdempotencyRecord(**record_of(idem, resource_id)))
