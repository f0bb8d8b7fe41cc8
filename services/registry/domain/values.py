"""Rules on a cooperative's values shared by every way a change arrives (the API and the file import)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from services.registry.db.models import StatusReport


def stored(value: Any) -> Any:
    """The value as the ORM column takes it (enums by their code)."""
    return value.value if isinstance(value, Enum) else value


def plain(value: Any) -> Any:
    """The value as the audit trail's JSON keeps it."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def is_newer(report: StatusReport, previous: StatusReport) -> bool:
    """Whether `report` sorts before `previous` in the latest-first order (as_of, created_at, revision desc), the
    order in which a cooperative's `latest_report_id` is kept. On a full tie the new report wins."""
    return (report.as_of, report.created_at, report.revision) >= (
        previous.as_of,
        previous.created_at,
        previous.revision,
    )
