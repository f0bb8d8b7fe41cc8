"""The audit trail's rows [nhật ký thay đổi]: who changed which cooperative, how, when, in which request."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared import tracing
from shared.auth import Principal


def audit_row(
    cooperative_id: uuid.UUID, version: int, action: str, changes: dict[str, Any], principal: Principal, at: datetime
) -> dict[str, Any]:
    """The columns of a `CooperativeChange`: `action` is created | updated | status_reported, `changes` maps each
    field to its old and new plain value (`values.plain`)."""
    return {
        "cooperative_id": cooperative_id,
        "version": version,
        "action": action,
        "changes": changes,
        "actor": principal.subject,
        "actor_agency": principal.agency,
        "request_id": tracing.current_request_id(),
        "at": at,
    }
