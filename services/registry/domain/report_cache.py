"""What this process last wrote for a cooperative, so that its next status report can skip the read.

A status report first reads the cooperative, its latest report and the highest revision of each of its periods
(`report_context.read_snapshot`), then writes. When this process wrote the cooperative's latest report, it
already knows all three as they were at the version it wrote. The write (`repositories.report_if_unchanged`)
applies only while the cooperative is still at that version, and only if the agency may write it on the day
(its jurisdiction is checked in the same statement): every writer of a cooperative or of its reports bumps
its version (API, file import, the locked path), so a remembered state that is out of date costs one
statement that writes nothing, and the report is then done the usual way. What is remembered is trusted only
while the version it was written at is the cooperative's current one, which the write itself checks. It saves
one round trip of a report's two: ~11 % of the registry's CPU per report (docs/performance.md, fix 35).

Per process and bounded (least recently used first out). Not used with an Idempotency-Key: an earlier outcome
of the key has to be looked up before writing, which is the read this would save.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from services.registry.db.models import Cooperative, StatusReport
from shared.db import detached

CAPACITY = 10_000  # cooperatives remembered per process (the city has a few hundred; the scale bench 100,000)


@dataclass(frozen=True)
class Known:
    """A cooperative as this process last wrote it: what its next report needs instead of a read."""

    cooperative: Cooperative  # a fresh detached row (shared.db.detached): the caller may change it
    latest: StatusReport
    top_revisions: Mapping[str, int]  # the highest revision of each of its periods (a period not here has none)


@dataclass(frozen=True)
class _Entry:
    cooperative: Mapping[str, Any]
    latest: Mapping[str, Any]
    top_revisions: Mapping[str, int]


class ReportCache:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[uuid.UUID, _Entry] = OrderedDict()

    def get(self, cooperative_id: uuid.UUID) -> Known | None:
        entry = self._entries.get(cooperative_id)
        if entry is None:
            return None
        self._entries.move_to_end(cooperative_id)
        cooperative, latest = detached(Cooperative, entry.cooperative), detached(StatusReport, entry.latest)
        return Known(cooperative, latest, MappingProxyType(entry.top_revisions))

    def remember(self, cooperative: Cooperative, latest: StatusReport, top_revisions: Mapping[str, int]) -> None:
        """After a report was written: the cooperative at its new version, its latest report now (both detached
        rows, `shared.db.detached`: their attributes are their columns), and the highest revision of each of its
        periods, the one just written included."""
        self._entries.pop(cooperative.id, None)
        self._entries[cooperative.id] = _Entry(dict(vars(cooperative)), dict(vars(latest)), dict(top_revisions))
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def forget(self, cooperative_id: uuid.UUID) -> None:
        self._entries.pop(cooperative_id, None)

    def __len__(self) -> int:
        return len(self._entries)
