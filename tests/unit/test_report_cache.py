"""services.registry.domain.report_cache: what a process remembers of the cooperatives it reported on."""

from __future__ import annotations

import uuid
from typing import Any

from services.registry.db.models import Cooperative, StatusReport
from services.registry.domain.report_cache import ReportCache
from shared.db import detached


def cooperative(version: int = 2, **values: Any) -> Cooperative:
    return detached(Cooperative, {"id": uuid.uuid4(), "version": version, **values})


def report(**values: Any) -> StatusReport:
    return detached(StatusReport, {"id": uuid.uuid4(), **values})


def test_a_cooperative_is_remembered_as_written() -> None:
    cache = ReportCache()
    coop, latest = cooperative(name="HTX A"), report(period="2025-H1", revision=2)
    cache.remember(coop, latest, {"2025-H1": 2, "2024-H2": 1})
    known = cache.get(coop.id)
    assert known is not None
    assert (known.cooperative.version, known.cooperative.name) == (2, "HTX A")
    assert known.latest.id == latest.id
    assert dict(known.top_revisions) == {"2025-H1": 2, "2024-H2": 1}
    assert cache.get(uuid.uuid4()) is None


def test_what_a_caller_changes_is_not_remembered() -> None:
    cache = ReportCache()
    coop = cooperative()
    revisions = {"2025-H1": 1}
    cache.remember(coop, report(), revisions)
    revisions["2025-H1"] = 5  # the caller's map is copied
    first = cache.get(coop.id)
    assert first is not None
    first.cooperative.version = 99  # the report path sets the new version on the row it was given
    second = cache.get(coop.id)
    assert second is not None
    assert second.cooperative.version == 2
    assert dict(second.top_revisions) == {"2025-H1": 1}


def test_the_least_recently_used_is_forgotten_first() -> None:
    cache = ReportCache(capacity=2)
    a, b, c = cooperative(), cooperative(), cooperative()
    cache.remember(a, report(), {})
    cache.remember(b, report(), {})
    assert cache.get(a.id) is not None  # a is now the most recently used
    cache.remember(c, report(), {})
    assert len(cache) == 2
    assert cache.get(b.id) is None
    assert cache.get(a.id) is not None and cache.get(c.id) is not None


def test_a_later_write_replaces_what_was_remembered_and_forget_drops_it() -> None:
    cache = ReportCache()
    coop = cooperative()
    cache.remember(coop, report(), {"2025-H1": 1})
    cache.remember(detached(Cooperative, {**vars(coop), "version": 3}), report(), {"2025-H1": 2})
    known = cache.get(coop.id)
    assert known is not None and known.cooperative.version == 3 and dict(known.top_revisions) == {"2025-H1": 2}
    cache.forget(coop.id)
    cache.forget(coop.id)  # twice is harmless
    assert cache.get(coop.id) is None
