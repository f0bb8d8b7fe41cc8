"""services.registry.domain.report_cache: what a process remembers of the cooperatives it reported on."""

from __future__ import annotations

import uuid
from typing import Any

from services.registry.db.models import Cooperative, StatusReport
from services.registry.domain.report_cache import ReportCache
from shared.db import detached


def cooperative(version: int, cooperative_id: uuid.UUID | None = None, **values: Any) -> Cooperative:
    return detached(Cooperative, {"id": cooperative_id or uuid.uuid4(), "version": version, **values})


def report(**values: Any) -> StatusReport:
    return detached(StatusReport, {"id": uuid.uuid4(), **values})


def test_a_report_is_remembered_for_its_period_only() -> None:
    cache = ReportCache()
    coop, latest = cooperative(2, name="HTX A"), report(period="2025-H1", revision=1)
    cache.remember(coop, latest, "2025-H1", 1, seen_version=1)
    known = cache.get(coop.id, "2025-H1")
    assert known is not None
    assert (known.cooperative.version, known.cooperative.name, known.top_revision) == (2, "HTX A", 1)
    assert known.latest is not None and known.latest.id == latest.id
    assert cache.get(coop.id, "2025-H2") is None  # another period's revisions are not known
    assert cache.get(uuid.uuid4(), "2025-H1") is None


def test_what_a_caller_changes_on_the_row_it_got_is_not_remembered() -> None:
    cache = ReportCache()
    coop = cooperative(2)
    cache.remember(coop, report(), "2025-H1", 1, seen_version=1)
    first = cache.get(coop.id, "2025-H1")
    assert first is not None
    first.cooperative.version = 99  # the report path sets the new version on the row it was given
    second = cache.get(coop.id, "2025-H1")
    assert second is not None and second.cooperative.version == 2


def test_other_periods_are_kept_only_when_known_at_the_version_written_on() -> None:
    cache = ReportCache()
    coop_id = uuid.uuid4()
    cache.remember(cooperative(2, coop_id), report(), "2025-H1", 1, seen_version=1)
    cache.remember(cooperative(3, coop_id), report(), "2025-H2", 1, seen_version=2)  # built on what was known
    assert cache.get(coop_id, "2025-H1") is not None and cache.get(coop_id, "2025-H2") is not None
    # Another writer took the cooperative to version 4 meanwhile; this process read it afresh and wrote version 5.
    cache.remember(cooperative(5, coop_id), report(), "2026-H1", 1, seen_version=4)
    assert cache.get(coop_id, "2025-H1") is None  # its period 2025-H1 may have moved since version 3
    assert cache.get(coop_id, "2026-H1") is not None


def test_the_least_recently_used_is_forgotten_first() -> None:
    cache = ReportCache(capacity=2)
    a, b, c = cooperative(2), cooperative(2), cooperative(2)
    cache.remember(a, report(), "2025-H1", 1, seen_version=1)
    cache.remember(b, report(), "2025-H1", 1, seen_version=1)
    assert cache.get(a.id, "2025-H1") is not None  # a is now the most recently used
    cache.remember(c, report(), "2025-H1", 1, seen_version=1)
    assert len(cache) == 2
    assert cache.get(b.id, "2025-H1") is None
    assert cache.get(a.id, "2025-H1") is not None and cache.get(c.id, "2025-H1") is not None


def test_forget() -> None:
    cache = ReportCache()
    coop = cooperative(2)
    cache.remember(coop, report(), "2025-H1", 1, seen_version=1)
    cache.forget(coop.id)
    cache.forget(coop.id)  # twice is harmless
    assert cache.get(coop.id, "2025-H1") is None
