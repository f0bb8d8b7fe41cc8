"""What adding a status report reads before it writes, in one round trip with the cooperative's row lock.

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
from typing import Any

from sqlalchemy import ScalarSelect, Select, String, Subquery, Uuid, bindparam, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.registry.db.models import Cooperative, StatusReport
from services.registry.domain.access import JURISDICTION, Jurisdiction, jurisdiction_params


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
