"""What adding a status report reads before it decides, in one statement.

A report needs: the cooperative as it is (its version is what the write checks), the agency's jurisdiction on
the day (object-level authorisation), the cooperative's latest report (through its `latest_report_id`, which
every writer of reports keeps in the same statement or transaction), the period's highest revision, and the
earlier outcome of the request's Idempotency-Key, if any.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import Select, String, Table, Uuid, bindparam, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from services.registry.db.models import Cooperative, IdempotencyRecord, StatusReport
from services.registry.domain.access import JURISDICTION, Jurisdiction, jurisdiction_params
from services.registry.domain.idempotency import Earlier, IdempotencyKey


@dataclass(frozen=True)
class ReportContext:
    cooperative: Cooperative  # as read, at `cooperative.version` (not attached to a session)
    jurisdiction: Jurisdiction | None  # None: the agency is unknown
    previous: StatusReport | None  # the cooperative's latest report, if any
    top_revision: int  # the period's highest revision (0: none yet)
    earlier: Earlier | None  # what the Idempotency-Key recorded, if it was used before


_COOPERATIVES = cast(Table, Cooperative.__table__)
_REPORTS = cast(Table, StatusReport.__table__)
_KEYS = cast(Table, IdempotencyRecord.__table__)


def _statement() -> Select[Any]:
    cooperative_id = bindparam("cooperative_id", type_=Uuid)
    agency = JURISDICTION.subquery("agency")
    latest = _REPORTS.alias("latest")
    top_revision = (
        select(func.max(_REPORTS.c.revision))
        .where(_REPORTS.c.cooperative_id == cooperative_id, _REPORTS.c.period == bindparam("period", type_=String))
        .scalar_subquery()
    )
    earlier = (
        select(_KEYS.c.request_hash, _KEYS.c.response)
        .where(
            _KEYS.c.agency == bindparam("agency", type_=String),
            _KEYS.c.key == bindparam("idem_key", type_=String),
            _KEYS.c.endpoint == bindparam("idem_endpoint", type_=String),
        )
        .subquery("earlier")
    )
    return (
        select(
            *(c.label(f"c_{c.key}") for c in _COOPERATIVES.c),
            *(c.label(f"j_{c.key}") for c in agency.c),
            *(c.label(f"r_{c.key}") for c in latest.c),
            top_revision.label("top_revision"),
            earlier.c.request_hash.label("k_request_hash"),
            earlier.c.response.label("k_response"),
        )
        .select_from(_COOPERATIVES)
        .outerjoin(agency, true())
        .outerjoin(latest, latest.c.id == _COOPERATIVES.c.latest_report_id)
        .outerjoin(earlier, true())
        .where(_COOPERATIVES.c.id == cooperative_id)
    )


# Built once: building it and computing its cache key per request cost more CPU than PostgreSQL spends on it.
_READ = _statement()


async def read_context(
    conn: AsyncConnection,
    cooperative_id: uuid.UUID,
    period: str,
    agency: str,
    on: date,
    idem: IdempotencyKey | None,
) -> ReportContext | None:
    """None when there is no such cooperative."""
    params = {
        "cooperative_id": cooperative_id,
        "period": period,
        "idem_key": idem.key if idem else None,
        "idem_endpoint": idem.endpoint if idem else None,
        **jurisdiction_params(agency, on),
    }
    row = (await conn.execute(_READ, params)).mappings().first()
    if row is None:
        return None
    cooperative = Cooperative(**{c.key: row[f"c_{c.key}"] for c in _COOPERATIVES.c})
    previous = StatusReport(**{c.key: row[f"r_{c.key}"] for c in _REPORTS.c}) if row["r_id"] is not None else None
    jurisdiction = Jurisdiction.of([row["j_code"], row["j_active"], row["j_writes_registry"], row["j_jurisdiction"]])
    earlier = Earlier(row["k_request_hash"], row["k_response"]) if row["k_request_hash"] is not None else None
    return ReportContext(cooperative, jurisdiction, previous, int(row["top_revision"] or 0), earlier)
