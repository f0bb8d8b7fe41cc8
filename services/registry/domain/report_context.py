"""What adding a status report reads before it writes, in as few round trips as the rules allow.

A report needs: the agency's jurisdiction on the day (object-level authorisation), the report that is the
cooperative's latest now (same order as `StatusReportRepository.latest`) and the period's highest revision. It must
read the reports *after* taking the cooperative's row lock, or two writers could both pick the same revision.

`LOCK_WITH_CONTEXT` takes the lock and reads all of that in one statement. PostgreSQL (READ COMMITTED) reads the
locked row as it is once the lock is granted but every other row as of the statement's start, so when the
statement had to wait for a writer of the same cooperative, the reports it read predate that writer. Every writer
of reports bumps the cooperative's version in the same transaction, and the statement also reads the version as
of its start (`seen_version`): if that differs from the locked row's, the context is stale and is read again
with `CONTEXT`, after the lock, as a separate statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import asyncpg
from sqlalchemy import ScalarSelect, Select, String, Subquery, Table, Uuid, bindparam, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.registry.db.models import Cooperative, IdempotencyRecord, StatusReport
from services.registry.domain.access import JURISDICTION, Jurisdiction, jurisdiction_params
from services.registry.domain.idempotency import IdempotencyKey
from shared.db import DriverStatement, detached


@dataclass(frozen=True)
class ReportContext:
    on: date  # the day the jurisdiction was read for
    jurisdiction: Jurisdiction | None  # None: the agency is unknown
    previous: StatusReport | None  # the cooperative's latest report, if any
    top_revision: int  # the period's highest revision (0: none yet)

    @staticmethod
    def of(on: date, columns: Sequence[Any]) -> ReportContext:
        """From the columns of `CONTEXT` (agency ×4, latest report, top revision)."""
        return ReportContext(on, Jurisdiction.of(columns[:4]), columns[4], int(columns[5] or 0))


def _parts() -> tuple[Subquery, Subquery, ScalarSelect[Any]]:
    """The agency's jurisdiction, the cooperative's latest report and the period's highest revision."""
    cooperative_id, period = bindparam("cooperative_id", type_=Uuid), bindparam("period", type_=String)
    agency = JURISDICTION.subquery("agency")
    latest_q = (
        select(StatusReport)
        .where(StatusReport.cooperative_id == cooperative_id)
        .order_by(StatusReport.as_of.desc(), StatusReport.created_at.desc(), StatusReport.revision.desc())
        .limit(1)
        .subquery()
    )
    top_revision = (
        select(func.max(StatusReport.revision))
        .where(StatusReport.cooperative_id == cooperative_id, StatusReport.period == period)
        .scalar_subquery()
    )
    return agency, latest_q, top_revision


def _statements() -> tuple[Select[Any], Select[Any]]:
    agency, latest_q, top_revision = _parts()
    cooperative_id = bindparam("cooperative_id", type_=Uuid)
    previous_report = aliased(StatusReport, latest_q)
    context = select(agency, previous_report, top_revision).select_from(agency).outerjoin(latest_q, true())
    seen = aliased(Cooperative, name="seen")
    seen_version = select(seen.version).where(seen.id == cooperative_id).scalar_subquery()
    locked = (
        select(Cooperative, seen_version, agency, previous_report, top_revision)
        .select_from(Cooperative)
        .outerjoin(agency, true())
        .outerjoin(latest_q, true())
        .where(Cooperative.id == cooperative_id)
        .with_for_update(of=Cooperative)
    )
    return context, locked


# Built once: building them and computing their cache keys per request cost more CPU than PostgreSQL spends on them.
CONTEXT, LOCK_WITH_CONTEXT = _statements()


def _params(cooperative_id: uuid.UUID, period: str, agency: str, on: date) -> dict[str, Any]:
    return {"cooperative_id": cooperative_id, "period": period, **jurisdiction_params(agency, on)}


async def lock_with_context(
    session: AsyncSession, cooperative_id: uuid.UUID, period: str, agency: str, on: date
) -> tuple[Cooperative | None, ReportContext | None]:
    """The cooperative, row-locked until the transaction ends (None: no such cooperative), and the context of a
    report on it for `period` by `agency` — None when it may be stale (see the module's docstring)."""
    row = (await session.execute(LOCK_WITH_CONTEXT, _params(cooperative_id, period, agency, on))).first()
    if row is None:
        return None, None
    coop: Cooperative = row[0]
    if row[1] != coop.version:
        return coop, None
    return coop, ReportContext.of(on, row[2:])


async def read_context(
    session: AsyncSession, cooperative_id: uuid.UUID, period: str, agency: str, on: date
) -> ReportContext:
    """The context, read now (the caller holds the cooperative's row lock)."""
    row = (await session.execute(CONTEXT, _params(cooperative_id, period, agency, on))).first()
    if row is None:  # the agency is unknown; no report will be written
        return ReportContext(on, None, None, 0)
    return ReportContext.of(on, row)


# -- without the lock: the first, optimistic attempt (`CooperativeService.report_status`) ----------------------


@dataclass(frozen=True)
class Replay:
    """The stored outcome of an earlier request with the same Idempotency-Key."""

    request_hash: str
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class ReportSnapshot:
    """Everything a report needs, read in one statement without a lock: the cooperative (a detached row, as
    it was at `cooperative.version`: `shared.db.detached`), the context, the highest revision of each of its
    periods (so a process that remembers the cooperative knows them for its next report of any period:
    `report_cache`), and the earlier outcome if the Idempotency-Key was used."""

    cooperative: Cooperative
    context: ReportContext
    top_revisions: dict[str, int]
    replay: Replay | None


_COOPERATIVES = cast(Table, Cooperative.__table__)
_REPORTS = cast(Table, StatusReport.__table__)


def _snapshot_statement() -> Select[Any]:
    agency, _, _ = _parts()
    cooperative_id = bindparam("cooperative_id", type_=Uuid)
    per_period = (
        select(StatusReport.period, func.max(StatusReport.revision).label("top"))
        .where(StatusReport.cooperative_id == cooperative_id)
        .group_by(StatusReport.period)
        .subquery("per_period")
    )
    top_revisions = select(func.jsonb_object_agg(per_period.c.period, per_period.c.top)).scalar_subquery()
    keys = cast(Table, IdempotencyRecord.__table__)
    replay = (
        select(keys.c.request_hash, keys.c.status_code, keys.c.response)
        .where(
            keys.c.agency == bindparam("agency", type_=String),
            keys.c.key == bindparam("idem_key", type_=String),
            keys.c.endpoint == bindparam("idem_endpoint", type_=String),
        )
        .subquery("replay")
    )
    # The latest report by the cooperative's own pointer, which every writer of reports keeps in the same
    # transaction (as the file import also relies on): a primary-key lookup, where sorting the cooperative's
    # reports grows with its history.
    latest = _REPORTS.alias("latest")
    return (
        select(_COOPERATIVES, agency, latest, top_revisions, replay)
        .select_from(_COOPERATIVES)
        .outerjoin(agency, true())
        .outerjoin(latest, latest.c.id == _COOPERATIVES.c.latest_report_id)
        .outerjoin(replay, true())
        .where(_COOPERATIVES.c.id == cooperative_id)
    )


SNAPSHOT = DriverStatement.of(_snapshot_statement())
_COOP_KEYS = tuple(c.key for c in _COOPERATIVES.columns)
_REPORT_KEYS = tuple(c.key for c in _REPORTS.columns)


async def read_snapshot(
    conn: asyncpg.Connection,
    cooperative_id: uuid.UUID,
    period: str,
    agency: str,
    on: date,
    idem: IdempotencyKey | None,
) -> ReportSnapshot | None:
    """One statement on the driver (no transaction, no lock); None when there is no such cooperative."""
    params = _params(cooperative_id, period, agency, on)
    params["idem_key"] = idem.key if idem else None
    params["idem_endpoint"] = idem.endpoint if idem else None
    row = await SNAPSHOT.fetchrow(conn, params)
    if row is None:
        return None
    columns = list(row.values())
    n_coop, n_report = len(_COOP_KEYS), len(_REPORT_KEYS)
    coop = detached(Cooperative, dict(zip(_COOP_KEYS, columns[:n_coop], strict=True)))
    agency_columns = columns[n_coop : n_coop + 4]
    report_columns = columns[n_coop + 4 : n_coop + 4 + n_report]
    top_revisions, request_hash, status_code, body = columns[n_coop + 4 + n_report :]
    top_revisions = {str(p): int(r) for p, r in (top_revisions or {}).items()}
    previous = (
        detached(StatusReport, dict(zip(_REPORT_KEYS, report_columns, strict=True)))
        if report_columns[0] is not None
        else None
    )
    context = ReportContext(on, Jurisdiction.of(agency_columns), previous, top_revisions.get(period, 0))
    replay = Replay(request_hash, status_code, body) if request_hash is not None else None
    return ReportSnapshot(coop, context, top_revisions, replay)
