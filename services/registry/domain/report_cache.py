"""What this process last wrote for a cooperative, so that its next status report can skip the read.

A status report first reads the cooperative, its latest report and the period's highest revision
(`report_context.read_snapshot`), then writes. When this process wrote the cooperative's latest report, it
already knows all three as they were at the version it wrote. The write (`repositories.report_if_unchanged`)
applies only while the cooperative is still at that version, and only if the agency may write it on the day
(its jurisdiction is checked in the same statement): every writer of a cooperative or of its reports bumps
its version (API, file import, the locked path), so a remembered state that is out of date costs one
statement that writes nothing, and the report is then done the usual way. Nothing here is trusted for
correctness, only for saving the read: one round trip of a report's two, ~10 % of the machine's time per
report (docs/performance.md, fix 35).

Per process and bounded (least recently used first out). Not used with an Idempotency-Key: an earlier outcome
of the key has to be looked up before writing, which is the read this would save.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.registry.db.models import Cooperative, StatusReport
from shared.db import detached

CAPACITY = 10_000  # cooperatives remembered per process (the city has a few hundred; the scale bench 100,000)


@dataclass(frozen=True)
class Known:
    """A cooperative as this process last wrote it: what a report on it for `period` needs instead of a read."""

    cooperative: Cooperative  # a fresh detached row (shared.db.detached): the caller may change it
    latest: StatusReport | None
    top_revision: int


@dataclass(frozen=True)
class _Entry:
    cooperative: Mapping[str, Any]
    latest: Mapping[str, Any] | None
    top_revisions: Mapping[str, int]  # per period this process has written or read


class ReportCache:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[uuid.UUID, _Entry] = OrderedDict()

    def get(self, cooperative_id: uuid.UUID, period: str) -> Known | None:
        entry = self._entries.get(cooperative_id)
        if entry is None or period not in entry.top_revisions:
            return None
        self._entries.move_to_end(cooperative_id)
        latest = detached(StatusReport, entry.latest) if entry.latest is not None else None
        return Known(detached(Cooperative, entry.cooperative), latest, entry.top_revisions[period])

    def remember(
        self, cooperative: Cooperative, latest: StatusReport, period: str, revision: int, *, seen_version: int
    ) -> None:
        """After a report was written on the cooperative at `seen_version`: the cooperative at its new version (a
        detached row), its latest report now, and the revision just written for `period`. What was known of its
        other periods is kept only if it was known at `seen_version` (then only this period changed)."""
        earlier = self._entries.pop(cooperative.id, None)
        still_true = earlier is not None and earlier.cooperative["version"] == seen_version
        top_revisions = {**(earlier.top_revisions if earlier and still_true else {}), period: revision}
        self._entries[cooperative.id] = _Entry(dict(vars(cooperative)), dict(vars(latest)), top_revisions)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def forget(self, cooperative_id: uuid.UUID) -> None:
        self._entries.pop(cooperative_id, None)

    def __len__(self) -> int:
        return len(self._entries)
