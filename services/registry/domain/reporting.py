"""What adding a status report changes: a pure decision, shared by the API and the file import.

Given the cooperative's latest report and the period's highest revision, a new report takes the next revision
of its period, and becomes the cooperative's latest unless a later-dated one is already there (the
latest-first order of `values.is_newer`). The cooperative then moves to its next version, carrying the latest
report's rating and model flag.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.registry.db.models import StatusReport
from services.registry.domain.inputs import StatusReportCreate
from services.registry.domain.values import is_newer, stored
from shared.auth import Principal


@dataclass(frozen=True)
class ReportDecision:
    report: StatusReport  # the new report, not yet stored
    latest: StatusReport  # the cooperative's latest report once it is added: it, or a later-dated one
    values: dict[str, Any]  # the new report's columns

    def new_version(self, version: int, now: datetime) -> dict[str, Any]:
        """The cooperative's columns that change (`db.cooperatives.NEW_VERSION_COLUMNS`), from `version`."""
        return {
            "latest_report_id": self.latest.id,
            "classification": self.latest.classification,
            "is_model": self.latest.is_model,
            "version": version + 1,
            "updated_at": now,
        }

    def audit_changes(self) -> dict[str, Any]:
        return {
            "period": {"old": None, "new": self.report.period},
            "report_id": {"old": None, "new": str(self.report.id)},
        }


def decide_report(
    cooperative_id: uuid.UUID,
    data: StatusReportCreate,
    *,
    previous: StatusReport | None,
    top_revision: int,
    reporter: Principal,
    now: datetime,
) -> ReportDecision:
    """`previous`: the cooperative's latest report (None: it has none); `top_revision`: the highest revision of
    `data.period` so far (0: none)."""
    values = {
        "id": uuid.uuid4(),
        "cooperative_id": cooperative_id,
        "revision": top_revision + 1,
        "reported_by_agency": reporter.agency,
        "reported_by": reporter.subject,
        "created_at": now,
        **{k: stored(v) for k, v in data.model_dump().items()},
    }
    report = StatusReport(**values)
    latest = report if previous is None or is_newer(report, previous) else previous
    return ReportDecision(report, latest, values)
