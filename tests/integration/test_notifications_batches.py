"""A run of target-status events applied together (the consumer's batch) against the same events one by one.

A run reads and locks its working set once, applies the events in memory and writes alerts, notices, states
and outbox rows at the end (domain/targets.py `apply_run`, domain/run.py); a single event is a run of one. It
acts on each (target, unit)'s newest event of the run, and on an earlier one only when that closes an open
alert. So: a random sequence, cut into random runs, is applied to one set of targets run by run, and the
events each run acted on to a twin set of targets one event per transaction; every row either path wrote must
be the same, in the same order.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from services.notifications.db.models import Alert
from services.notifications.domain.alerts import Alerts
from services.notifications.domain.run import Run
from services.notifications.domain.targets import apply_run
from services.notifications.events.handlers import handler_table
from shared.clock import FixedClock
from shared.events import contracts
from shared.events.contracts import TargetStatusV1, payload_json
from shared.events.envelope import CloudEvent
from shared.infra.stack import Stack
from shared.messaging.consumer import Subscription
from shared.service import Runtime
from tests.conftest import report
from tests.integration.alerts_support import (
    AGENCY_KINDS,
    DISTRICTS,
    agency_event,
    at_vietnam,
    auth,
    fetch,
    notifications,
    own_environment,
    status,
)

pytestmark = pytest.mark.integration

TODAY = date(2025, 7, 15)
STATUSES = ["at_risk", "off_track", "missed", "not_achieved", "on_track", "achieved", "insufficient_data"]
ORDERED = {"stream", "outbox"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Service:
    runtime: Runtime
    target_statuses: Subscription
    db: str

    async def one_by_one(self, payloads: Sequence[TargetStatusV1]) -> None:
        for payload in payloads:
            async with self.runtime.sessionmaker() as session, session.begin():
                await self.target_statuses.handler(session, [event_of(payload)])

    async def as_a_run(self, payloads: Sequence[TargetStatusV1]) -> list[TargetStatusV1]:
        """Through the domain's run (which says what it acted on)."""
        async with self.runtime.sessionmaker() as session, session.begin():
            return await apply_run(session, Alerts(self.runtime.outbox), payloads, self.runtime.clock.now)

    async def through_the_handler(self, payloads: Sequence[TargetStatusV1]) -> None:
        """As the consumer calls it for a run of consecutive target-status events."""
        async with self.runtime.sessionmaker() as session, session.begin():
            await self.target_statuses.handler(session, [event_of(p) for p in payloads])
            await session.flush()


def event_of(payload: contracts.EventPayload) -> CloudEvent:
    return CloudEvent(type=payload.event_type, source="/htx-monitor/indicators", data=payload_json(payload))


@pytest.fixture(scope="module")
async def service(migrated_stack: Stack) -> AsyncIterator[Service]:
    """The service in-process without its consumer or workers (the test calls the handlers itself, and no
    delivery attempt may change which channels count as working half-way)."""
    async with own_environment(migrated_stack.database_url, migrated_stack.bootstrap_servers) as env:
        clock = FixedClock(at_vietnam(TODAY))
        async with notifications(env, clock, run_workers=False) as (api, runtime, _):
            table = {s.event_type: s for s in handler_table(runtime)}
            async with runtime.sessionmaker() as session, session.begin():
                for code in AGENCY_KINDS:
                    await table[contracts.AgencyV1.event_type].handler(session, [event_of(agency_event(code))])
            # SCT hears by e-mail, LMHTX by a daily digest: deliveries (pending and held) are compared too.
            for agency, digest in (("SCT", False), ("LMHTX", True)):
                read = await api.get(f"/v1/agencies/{agency}/channels", headers=auth(agency))
                body = {"language": "vi", "digest": digest, "channels": [{"kind": "email", "address": "a@b.vn"}]}
                put = await api.put(
                    f"/v1/agencies/{agency}/channels",
                    json=body,
                    headers={**auth(agency), "If-Match": read.headers["ETag"]},
                )
                assert put.status_code == 200, put.text
            yield Service(runtime, table[contracts.TargetStatusV1.event_type], env["DATABASE_URL"])


def random_sequence(rng: random.Random, prefix: str, count: int) -> list[TargetStatusV1]:
    """Moves of six (target, unit) pairs, with late older versions, repeated versions and changing routing."""
    pairs = [(f"{prefix}.{k}", unit) for k in (1, 2, 3) for unit in DISTRICTS[:2]]
    versions = dict.fromkeys(pairs, 0)
    events = []
    for _ in range(count):
        pair = rng.choice(pairs)
        roll = rng.random()
        if roll < 0.12 and versions[pair] > 2:
            version = versions[pair] - 2  # late and older: ignored
        elif roll < 0.2 and versions[pair] > 0:
            version = versions[pair]  # the same version again: ignored
        else:
            versions[pair] += 1
            version = versions[pair]
        lead = rng.choice([f"UBND-{pair[1]}", f"UBND-{pair[1]}", "SCT"])
        coordinating = rng.choice([["SNN"], ["SNN", "LMHTX"], ["LMHTX"], []])
        current = str(rng.randint(10, 60))
        events.append(
            status(
                pair[0],
                pair[1],
                None,
                rng.choice(STATUSES),
                version,
                lead=lead,
                coordinating=coordinating,
                current=current,
            )
        )
    return events


def runs_of(rng: random.Random, events: list[TargetStatusV1]) -> list[list[TargetStatusV1]]:
    runs, start = [], 0
    while start < len(events):
        size = rng.randint(1, 30)
        runs.append(events[start : start + size])
        start += size
    return runs


def twin(prefix: str, events: list[TargetStatusV1]) -> list[TargetStatusV1]:
    """The same events for the twin targets (`B.1` → `S.1`)."""
    return [
        e.model_copy(
            update={
                "target_code": e.target_code.replace("B.", prefix + "."),
                "target_id": e.target_id.replace(":B.", f":{prefix}."),
                "explanation": e.explanation.replace("B.", prefix + "."),
            }
        )
        for e in events
    ]


async def written(db: str, prefix: str) -> dict[str, list[str]]:
    """Every row written about the targets `prefix.*`, ids and the prefix blanked, in the order written."""
    like = f"%:{prefix}.%"
    code = f"{prefix}.%"
    queries = {
        "target_states": (
            "SELECT status, version, data FROM notifications.target_states WHERE target_id LIKE $1 "
            "ORDER BY target_id, unit_code",
            like,
        ),
        "alerts": (
            "SELECT dedup_key, kind, role, agency_code, unit_code, state, severity, title, body, data, "
            "notify_count, version, resolved_by FROM notifications.alerts WHERE target_id LIKE $1 "
            "ORDER BY dedup_key, version",
            like,
        ),
        "inbox": (
            "SELECT m.agency_code, m.notice, m.title, m.body, m.fallback_for, a.dedup_key "
            "FROM notifications.inbox_messages m JOIN notifications.alerts a ON a.id = m.alert_id "
            "WHERE a.target_id LIKE $1 ORDER BY 1, 2, 3, 4, 5, 6",
            like,
        ),
        "stream": (
            "SELECT a.dedup_key AS alert, s.agency_code, s.event, s.data FROM notifications.stream_events s "
            "JOIN notifications.alerts a ON a.id = s.alert_id WHERE a.target_id LIKE $1 ORDER BY s.id",
            like,
        ),
        "deliveries": (
            "SELECT d.agency_code, d.channel, d.notice, d.status, d.payload FROM notifications.deliveries d "
            "JOIN notifications.alerts a ON a.id = d.alert_id WHERE a.target_id LIKE $1 "
            "ORDER BY a.dedup_key, a.version, d.notice, d.status",
            like,
        ),
        "outbox": (
            "SELECT concat_ws('|', payload->>'kind', payload->>'target_code', payload->>'unit_code', "
            "payload->>'agency_code') AS alert, event_type, payload FROM notifications.outbox "
            "WHERE payload->>'target_code' LIKE $1 "
            "ORDER BY id",
            code,
        ),
    }
    out = {}
    for name, (sql, arg) in queries.items():
        rows = await fetch(db, sql, arg)
        text = [json.dumps([r[k] for k in r.keys()], default=str, ensure_ascii=False) for r in rows]
        rows_text = [UUID.sub("<id>", t).replace(f"{prefix}.", "X.") for t in text]
        if name in ORDERED:
            # Each alert's notices in the order written (what a stream reader or a topic consumer sees). Between
            # alerts changed by the same event the order follows their ids, random on either side.
            by_alert: dict[str, list[str]] = {}
            for row, line in zip(rows, rows_text, strict=True):
                by_alert.setdefault(str(row["alert"]), []).append(line)
            out[name] = [line for key in sorted(by_alert) for line in by_alert[key]]
        else:
            out[name] = sorted(rows_text)  # rows that differ only by id have no order of their own
    return out


async def test_a_run_leaves_what_its_newest_events_leave_one_by_one(service: Service) -> None:
    rng = random.Random(219)
    sequence = random_sequence(rng, "B", 160)
    runs = runs_of(rng, sequence)
    acted_on = 0
    for run in runs:
        acted = await service.as_a_run(run)
        acted_on += len(acted)
        await service.one_by_one(twin("S", acted))

    batch, single = await written(service.db, "B"), await written(service.db, "S")
    report(
        f"[notifications batches] {len(sequence)} events in {len(runs)} runs, {acted_on} acted on: "
        + ", ".join(f"{k} {len(v)}" for k, v in batch.items())
    )
    for name in batch:
        assert batch[name] == single[name], name
    # The sequence reached every path worth comparing: opened, updated, resolved (recovered and rerouted),
    # fallback copies to SNN, pending and held e-mail, and late or repeated versions.
    notices = {json.loads(row)[1] for row in batch["inbox"]}
    assert notices == {"opened", "updated", "resolved"}
    assert any("rerouted" in row for row in batch["alerts"])
    assert any(json.loads(row)[0] == "SNN" and json.loads(row)[4] for row in batch["inbox"])
    assert {json.loads(row)[3] for row in batch["deliveries"]} == {"pending", "held"}
    assert acted_on < len(sequence)


async def test_a_run_acts_on_the_newest_status_of_each_target(service: Service) -> None:
    route: dict[str, Any] = {"lead": "UBND-916", "coordinating": ["SNN"]}
    moves = [
        status("C.1", "916", "on_track", "at_risk", 1, current="30", **route),
        status("C.1", "916", "at_risk", "on_track", 2, current="45", **route),
        status("C.1", "916", "on_track", "off_track", 3, current="25", **route),
        status("C.1", "916", "on_track", "at_risk", 2, current="99", **route),  # late, older: ignored
    ]
    await service.through_the_handler(moves)

    alerts = await fetch(
        service.db,
        "SELECT agency_code, state, severity, version, data->>'current' AS current, data->>'event_version' AS v "
        "FROM notifications.alerts WHERE target_code = 'C.1' ORDER BY agency_code",
    )
    # One alert per routed agency, opened once at the newest status (off_track, version 3) — not opened,
    # resolved and opened again for moves the run already superseded.
    assert [tuple(r) for r in alerts] == [
        ("SNN", "open", "info", 1, "25", "3"),
        ("UBND-916", "open", "critical", 1, "25", "3"),
    ]
    notices = await fetch(
        service.db,
        "SELECT m.notice, count(*) FROM notifications.inbox_messages m JOIN notifications.alerts a "
        "ON a.id = m.alert_id WHERE a.target_code = 'C.1' AND m.fallback_for IS NULL GROUP BY 1",
    )
    assert [tuple(r) for r in notices] == [("opened", 2)]
    stored = await fetch(
        service.db,
        "SELECT status, version FROM notifications.target_states WHERE target_id LIKE '%:C.1' AND unit_code = '916'",
    )
    assert [tuple(r) for r in stored] == [("off_track", 3)]

    # A later run: back on track resolves both; an older version in the same run changes nothing.
    await service.through_the_handler(
        [
            status("C.1", "916", "off_track", "on_track", 4, current="48", **route),
            status("C.1", "916", "off_track", "missed", 3, current="1", **route),
        ]
    )
    states = await fetch(
        service.db, "SELECT state, version FROM notifications.alerts WHERE target_code = 'C.1' ORDER BY agency_code"
    )
    assert [tuple(r) for r in states] == [("resolved", 2), ("resolved", 2)]


async def test_a_recovery_inside_a_run_still_ends_the_open_episode(service: Service) -> None:
    """An acknowledged alert, then a run holding "back on track" and "off track again": the acknowledged alert
    is resolved and the new risk opens a new alert (open, so it gets its own reminders) — as one event at a
    time would — instead of updating the acknowledged one."""
    route: dict[str, Any] = {"lead": "UBND-917", "coordinating": ["SNN"]}
    await service.through_the_handler([status("C.2", "917", "on_track", "at_risk", 1, **route)])
    runtime = service.runtime
    async with runtime.sessionmaker() as session, session.begin():
        lead = await session.scalar(select(Alert).where(Alert.target_code == "C.2", Alert.agency_code == "UBND-917"))
        assert lead is not None
        run = Run(session)
        await Alerts(runtime.outbox).acknowledge(run, lead, "can-bo-917", runtime.clock.now())
        await run.write()

    await service.through_the_handler(
        [
            status("C.2", "917", "at_risk", "on_track", 2, current="47", **route),
            status("C.2", "917", "on_track", "off_track", 3, current="22", **route),
        ]
    )
    rows = await fetch(
        service.db,
        "SELECT agency_code, state, data->>'event_version' AS v FROM notifications.alerts "
        "WHERE target_code = 'C.2' ORDER BY agency_code, opened_at, state DESC",
    )
    assert sorted(tuple(r) for r in rows) == [
        ("SNN", "open", "3"),
        ("SNN", "resolved", "2"),
        ("UBND-917", "open", "3"),
        ("UBND-917", "resolved", "2"),
    ]
