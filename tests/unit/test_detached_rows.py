"""`shared.db.detached`: a row read through a model's attributes without an ORM instance."""

from __future__ import annotations

import uuid

import pytest

from services.registry.db.models import StatusReport
from shared.db import detached


def test_every_column_reads_and_the_ones_not_given_are_none() -> None:
    report_id = uuid.uuid4()
    row = detached(StatusReport, {"id": report_id, "period": "2025-H1", "revision": 2})
    assert (row.id, row.period, row.revision) == (report_id, "2025-H1", 2)
    assert row.classification is None and row.created_at is None


def test_a_name_that_is_not_a_column_is_refused_as_the_model_would() -> None:
    with pytest.raises(TypeError, match="no_such_column"):
        detached(StatusReport, {"id": uuid.uuid4(), "no_such_column": 1})
