"""The value rules the API and the file import share (services.registry.domain.values)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.registry.db.models import StatusReport
from services.registry.domain.values import is_newer, plain, stored
from shared.events.contracts import Classification

AT = datetime(2025, 7, 1, 3, 0, tzinfo=UTC)


def report(as_of: date, created_at: datetime = AT, revision: int = 1) -> StatusReport:
    return StatusReport(as_of=as_of, created_at=created_at, revision=revision)


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        (report(date(2025, 6, 30)), report(date(2025, 6, 29)), True),  # a later day
        (report(date(2025, 6, 29)), report(date(2025, 6, 30)), False),  # a back-dated report stays behind
        (report(date(2025, 6, 30), AT.replace(hour=4)), report(date(2025, 6, 30)), True),  # same day, later
        (report(date(2025, 6, 30), revision=1), report(date(2025, 6, 30), revision=2), False),
        (report(date(2025, 6, 30)), report(date(2025, 6, 30)), True),  # a full tie: the new one wins
    ],
)
def test_is_newer_follows_the_latest_first_order(new: StatusReport, old: StatusReport, expected: bool) -> None:
    assert is_newer(new, old) is expected


def test_stored_and_plain() -> None:
    ident = uuid.uuid4()
    values: dict[str, Any] = {
        "classification": Classification("good"),
        "as_of": date(2025, 6, 30),
        "at": AT,
        "farmland_ha": Decimal("85.50"),
        "id": ident,
        "members": 30,
    }
    assert stored(values["classification"]) == "good"
    assert stored(values["members"]) == 30
    assert {k: plain(v) for k, v in values.items()} == {
        "classification": "good",
        "as_of": "2025-06-30",
        "at": "2025-07-01T03:00:00+00:00",
        "farmland_ha": "85.50",
        "id": str(ident),
        "members": 30,
    }
