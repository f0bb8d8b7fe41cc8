"""The reporting calendar and the scheduler, with the clock moved day by day through a whole year.

Two scheduler replicas run every day at once; the service is stopped for a month mid-year and started
again; submissions arrive early, on time, late and during the downtime. What the service announced (its
`AlertV1` outbox rows, its inbox) is compared with a reference schedule written straight from the rules:
reminders 14, 7 and 1 days before, overdue weekly after, the latest due notice sent once after downtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.notifications.workers.scheduler import run_once
from shared.clock import FixedClock
from shared.events.contracts import EventPayload
from shared.service import Runtime
from tests.integration.alerts_support import (
    AGENCY_KINDS,
    OPERATOR,
    REPORTING,
    Producer,
    agency_event,
    at_vietnam,
    auth,
    fetch,
    notifications,
    scalar,
    second_runtime,
    status,
    submission,
)
from tests.integration.kafka_helpers import eventually

pytestmark = pytest.mark.integration

YEAR_START, YEAR_END = date(2025, 1, 1), date(2025, 12, 31)
DOWN_FROM, UP_AGAIN = date(2025, 5, 20), date(2025, 6, 20)  # the service is stopped for a month


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def reference_schedule(
    due: date, *, runs: list[date], created: date | None = None, submitted: date | None = None
) -> list[tuple[date, str]]:
    """What the agency should hear, written from the rules: the points in time at which a notice is due
    (14, 7, 1 days before; every 7 days from the day after the due date), and on each day the scheduler
    runs, the latest point reached and not yet handled is sent (earlier unhandled ones are skipped)."""
    points = [(due - timedelta(days=d), "deadline_reminder") for d in (14, 7, 1)]
    points += [(p, "deadline_overdue") for p in days(due + timedelta(days=1), YEAR_END)[::7]]
    sent: list[tuple[date, str]] = []
    handled = date.min
    if created is not None:
        sent.append((created, "deadline_reminder"))  # the request itself is announced at once
        handled = created
    for today in runs:
        if submitted is not None and submitted <= today:
            break
        reached = [p for p in points if handled < p[0] <= today]
        if reached:
            handled, kind = max(reached)
            sent.append((today, kind))
    return sent


@dataclass
class Service:
    api: httpx.AsyncClient
    runtimes: tuple[Runtime, Runtime]


@contextlib.asynccontextmanager
async def service(env: dict[str, str], clock: FixedClock) -> AsyncIterator[Service]:
    """The service (relay, consumer) plus a second replica on the same database, schedulers driven by hand."""
    async with notifications(env, clock) as (api, runtime, _), second_runtime(clock) as other:
        yield Service(api, (runtime, other))


async def submitted_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM notifications.deadlines WHERE submitted_on IS NOT NULL"))


async def test_a_year_of_reporting_deadlines_every_notice_once_at_its_time(isolated_env: dict[str, str]) -> None:
    db = isolated_env["DATABASE_URL"]
    clock = FixedClock(at_vietnam(YEAR_START))
    producer = Producer(isolated_env["KAFKA_BOOTSTRAP_SERVERS"], isolated_env["HTX_TOPIC_PREFIX"])
    await producer.start()
    conn = await asyncpg.connect(db)
    stack = contextlib.AsyncExitStack()
    try:
        svc: Service | None = await stack.enter_async_context(service(isolated_env, clock))
        for code in AGENCY_KINDS:
            await producer.send(agency_event(code))

        async def obligations_ready() -> bool:
            return await scalar(db, "SELECT count(*) FROM notifications.deadlines") == len(REPORTING) * 4

        await eventually(obligations_ready, within=60, what="this and next year's obligations")
        owners = {r["agency_code"] for r in await fetch(db, "SELECT agency_code FROM notifications.deadlines")}
        assert owners == set(REPORTING) and not owners & {"LMHTX", "MTTQ"}

        submissions: dict[date, list[EventPayload]] = {
            date(2025, 6, 5): [submission("SNN", "semi_annual", "2025-H1", date(2025, 6, 5))],  # during downtime
            date(2025, 7, 3): [submission("UBND-916", "semi_annual", "2025-H1", date(2025, 7, 3))],  # late
            date(2025, 11, 20): [submission("UBND-927", "annual", "2025", date(2025, 11, 20))],  # early
            date(2025, 12, 9): [submission("STC", "annual", "2025", date(2025, 12, 9))],  # on the last day
            date(2025, 12, 15): [submission("SCT", "annual", "2025", date(2025, 12, 15))],  # late
        }
        requests = {  # ad-hoc requests by SNN: one well ahead, one already inside its reminder window
            date(2025, 3, 3): {"title": "Báo cáo nhanh thiệt hại do hạn mặn", "agencies": ["UBND-917", "UBND-918"]},
            date(2025, 8, 1): {"title": "Báo cáo đột xuất về HTX sản xuất lúa", "agencies": ["UBND-919"]},
        }
        request_due = {date(2025, 3, 3): date(2025, 3, 20), date(2025, 8, 1): date(2025, 8, 5)}
        request_ids: dict[date, str] = {}
        expected_submitted = 0
        runs: list[date] = []
        sent_per_day: dict[date, int] = {}
        started = time.perf_counter()
        for day in days(YEAR_START, YEAR_END):
            clock.set(at_vietnam(day))
            if day == DOWN_FROM:
                await stack.aclose()
                svc = None
            if day == UP_AGAIN:
                stack = contextlib.AsyncExitStack()
                svc = await stack.enter_async_context(service(isolated_env, clock))
            for event in submissions.get(day, []):
                await producer.send(event)
                expected_submitted += 1
            if day == date(2025, 3, 18):  # one of the two answers the March request on time
                rid = uuid.UUID(request_ids[date(2025, 3, 3)])
                await producer.send(submission("UBND-917", "ad_hoc", str(rid), day, request_id=rid))
                expected_submitted += 1
            if day == date(2025, 8, 5):
                rid = uuid.UUID(request_ids[date(2025, 8, 1)])
                await producer.send(submission("UBND-919", "ad_hoc", str(rid), day, request_id=rid))
                expected_submitted += 1
            if svc is None:
                continue
            if day in requests:
                body = {**requests[day], "due_on": request_due[day].isoformat()}
                created = await svc.api.post("/v1/report-requests", json=body, headers=auth("SNN"))
                assert created.status_code == 201, created.text
                request_ids[day] = created.json()["id"]
            target = expected_submitted

            async def applied(target: int = target) -> bool:
                return await submitted_count(conn) == target

            await eventually(applied, within=60, what=f"the submissions up to {day}")
            # Two replicas at once: whatever is due is claimed by one of them.
            a, b = await asyncio.gather(*(run_once(rt) for rt in svc.runtimes))
            sent_per_day[day] = a + b
            runs.append(day)
        elapsed = time.perf_counter() - started
        assert svc is not None
        api = svc.api

        # -- every notice once, at its time --------------------------------------------------------------
        deadlines = {
            r["id"]: r
            for r in await fetch(db, "SELECT id, agency_code, kind, period, due_on FROM notifications.deadlines")
        }
        rows = await fetch(
            db,
            "SELECT a.deadline_id, (o.occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day, "
            "o.payload->>'kind' AS kind, o.payload->>'state' AS state, o.payload->>'agency_code' AS agency "
            "FROM notifications.outbox o JOIN notifications.alerts a ON a.id = (o.payload->>'alert_id')::uuid "
            "ORDER BY o.id",
        )
        announced: dict[Any, list[tuple[date, str]]] = defaultdict(list)
        closed: dict[Any, list[date]] = defaultdict(list)
        for r in rows:
            assert r["deadline_id"] is not None and r["agency"] == deadlines[r["deadline_id"]]["agency_code"]
            (closed if r["state"] == "resolved" else announced)[r["deadline_id"]].append((r["day"], r["kind"]))
        submitted_on = {
            ("SNN", "2025-H1"): date(2025, 6, 5),
            ("UBND-916", "2025-H1"): date(2025, 7, 3),
            ("UBND-927", "2025"): date(2025, 11, 20),
            ("STC", "2025"): date(2025, 12, 9),
            ("SCT", "2025"): date(2025, 12, 15),
        }
        ad_hoc = {request_ids[d]: d for d in requests}
        request_submitted = {(request_ids[date(2025, 3, 3)], "UBND-917"): date(2025, 3, 18)}
        request_submitted[(request_ids[date(2025, 8, 1)], "UBND-919")] = date(2025, 8, 5)
        total = 0
        for deadline_id, d in deadlines.items():
            if d["kind"] == "ad_hoc":
                created: date | None = ad_hoc[d["period"]]
                submitted = request_submitted.get((d["period"], d["agency_code"]))
            else:
                created, submitted = None, submitted_on.get((d["agency_code"], d["period"]))
            expected = reference_schedule(d["due_on"], runs=runs, created=created, submitted=submitted)
            label = (d["agency_code"], d["kind"], d["period"])
            assert announced.get(deadline_id, []) == expected, label
            assert [day for day, _ in closed.get(deadline_id, [])] == ([submitted] if submitted and expected else []), (
                label
            )
            total += len(expected)
        requested = sum(
            1 for d in deadlines.values() if d["kind"] == "ad_hoc"
        )  # announced by the API, not the scheduler
        assert sum(sent_per_day.values()) == total - requested
        assert total > 250

        # The restart sent what the month of downtime owed, once: one overdue notice per open H1 report.
        owed = [r for r in rows if r["day"] == UP_AGAIN]
        assert len(owed) == sent_per_day[UP_AGAIN] == len(REPORTING) - 1 + 1  # H1 (all but SNN) + the 918 request
        assert {r["kind"] for r in owed} == {"deadline_overdue"}
        # Notices on the inbox match the events one for one.
        inbox = await scalar(
            db,
            "SELECT count(*) FROM notifications.inbox_messages WHERE fallback_for IS NULL AND alert_id IN "
            "(SELECT id FROM notifications.alerts WHERE deadline_id IS NOT NULL)",
        )
        assert inbox == len(rows)

        # -- states through the API, at the end of the year ------------------------------------------------
        states = {}
        for state in ("upcoming", "due", "overdue", "met", "met_late"):
            r = await api.get("/v1/deadlines", params={"state": state, "limit": "200"}, headers=auth("SNN"))
            assert r.status_code == 200, r.text
            for item in r.json()["items"]:
                assert item["state"] == state
                states[(item["agency_code"], item["period"] if item["kind"] != "ad_hoc" else item["kind"])] = state
        assert len(states) == len(deadlines)
        assert states[("SNN", "2025-H1")] == "met" and states[("UBND-916", "2025-H1")] == "met_late"
        assert states[("STC", "2025")] == "met" and states[("SCT", "2025")] == "met_late"
        assert states[("UBND-917", "2025-H1")] == "overdue" and states[("UBND-918", "ad_hoc")] == "overdue"
        assert states[("UBND-926", "2026-H1")] == "upcoming" and states[("UBND-917", "ad_hoc")] == "met"
        own = await api.get("/v1/deadlines", headers=auth("UBND-916"))
        assert {d["agency_code"] for d in own.json()["items"]} == {"UBND-916"}
        assert (await api.get("/v1/deadlines", params={"agency": "SNN"}, headers=auth("UBND-916"))).status_code == 403
        print(f"\n[notifications] {len(runs)} days × 2 replicas in {elapsed:.1f}s; {total} notices")  # noqa: T201
    finally:
        await stack.aclose()
        await producer.stop()
        await conn.close()


async def test_report_requests_are_checked_and_idempotent(isolated_env: dict[str, str]) -> None:
    clock = FixedClock(at_vietnam(date(2025, 10, 6)))
    async with notifications(isolated_env, clock) as (api, _, producer):
        for code in AGENCY_KINDS:
            await producer.send(agency_event(code))

        async def ready() -> bool:
            return await scalar(isolated_env["DATABASE_URL"], "SELECT count(*) FROM notifications.agencies") == 15

        await eventually(ready, what="the agency directory")
        body = {
            "title": "Báo cáo thiệt hại do triều cường",
            "agencies": ["UBND-924", "UBND-925"],
            "due_on": "2025-10-20",
        }
        assert (await api.post("/v1/report-requests", json=body, headers=auth("UBND-924"))).status_code == 403
        own = {**body, "agencies": ["UBND-924"]}
        assert (await api.post("/v1/report-requests", json=own, headers=auth("UBND-924"))).status_code == 201
        bad = {"title": "x", "agencies": ["UBND-924", "NOPE", "UBND-924"], "due_on": "2025-10-01"}
        r = await api.post("/v1/report-requests", json=bad, headers=auth("SNN"))
        assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["title"]
        r = await api.post("/v1/report-requests", json={**bad, "title": "Báo cáo nhanh"}, headers=auth("SNN"))
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["due_on", "agencies.1", "agencies.2"]

        key = {"Idempotency-Key": "req-2025-10-06-trieu-cuong"}
        first = await api.post("/v1/report-requests", json=body, headers={**auth("SNN"), **key})
        assert first.status_code == 201, first.text
        assert [d["state"] for d in first.json()["deadlines"]] == ["due", "due"]
        retry = await api.post("/v1/report-requests", json=body, headers={**auth("SNN"), **key})
        assert retry.status_code == 201 and retry.headers.get("Idempotent-Replayed") == "true"
        assert retry.json() == first.json()
        other = await api.post(
            "/v1/report-requests", json={**body, "due_on": "2025-10-21"}, headers={**auth("SNN"), **key}
        )
        assert other.status_code == 422
        rows = await fetch(isolated_env["DATABASE_URL"], "SELECT agency_code FROM notifications.alerts ORDER BY 1")
        assert [r["agency_code"] for r in rows] == ["UBND-924", "UBND-924", "UBND-925"]
        alerts = (await api.get("/v1/alerts", headers=auth("UBND-925"))).json()["items"]
        assert alerts[0]["title"] == "Yêu cầu báo cáo đột xuất “Báo cáo thiệt hại do triều cường” (hạn 20/10/2025)"
        assert "còn 14 ngày" in alerts[0]["body"] and alerts[0]["kind"] == "deadline_reminder"
        ops = await api.get("/v1/deadlines", params={"agency": "UBND-925"}, headers=auth("STC", OPERATOR))
        assert (
            ops.status_code == 200 and len(ops.json()["items"]) == 1 + 3
        )  # the request; annual 2025, H1 and annual 2026


async def test_the_scheduler_worker_runs_by_itself_in_every_replica(isolated_env: dict[str, str]) -> None:
    db = isolated_env["DATABASE_URL"]
    clock = FixedClock(at_vietnam(date(2025, 5, 20)))
    fast = {"scheduler_enabled": True, "scheduler_interval_seconds": 0.2}
    async with notifications(isolated_env, clock, **fast) as (_, _, producer):
        for code in AGENCY_KINDS:
            await producer.send(agency_event(code))

        async def obligations() -> bool:
            return await scalar(db, "SELECT count(*) FROM notifications.deadlines") == len(REPORTING) * 4

        await eventually(obligations, what="the obligations")
        assert await scalar(db, "SELECT count(*) FROM notifications.alerts") == 0
        clock.set(at_vietnam(date(2025, 5, 26)))  # 14 days before 09/06: every reporting agency is reminded

        async def reminded() -> bool:
            return await scalar(db, "SELECT count(*) FROM notifications.scheduled_sends") == len(REPORTING)

        await eventually(reminded, what="the worker to send the 14-day reminders")
        await asyncio.sleep(1.0)  # a few more passes send nothing more
        assert await scalar(db, "SELECT count(*) FROM notifications.alerts") == len(REPORTING)
        assert await scalar(db, "SELECT count(*) FROM notifications.outbox") == len(REPORTING)


async def test_target_deadlines_and_re_reminders(isolated_env: dict[str, str]) -> None:
    db = isolated_env["DATABASE_URL"]
    clock = FixedClock(at_vietnam(date(2025, 6, 1)))
    async with notifications(isolated_env, clock) as (api, runtime, producer):
        for code in AGENCY_KINDS:
            await producer.send(agency_event(code))
        route = {"lead": "SNN", "coordinating": ["LMHTX"]}
        await producer.send(status("II.2.a", "92", None, "at_risk", 1, **route), source="indicators")
        await producer.send(status("II.2.b", "92", None, "achieved", 1, **route), source="indicators")
        await producer.send(status("II.2.h", "92", None, "qualitative", 1, **route), source="indicators")

        async def states() -> bool:
            return await scalar(db, "SELECT count(*) FROM notifications.target_states") == 3

        await eventually(states, what="the target states")
        [risk] = [a for a in (await api.get("/v1/alerts", headers=auth("SNN"))).json()["items"]]
        for day in days(date(2025, 6, 1), date(2026, 1, 10)):
            clock.set(at_vietnam(day))
            if day == date(2025, 7, 1):
                r = await api.post(f"/v1/alerts/{risk['id']}/acknowledge", headers=auth("SNN"))
                assert r.status_code == 200
            if day == date(2025, 12, 10):
                await producer.send(status("II.2.a", "92", "at_risk", "achieved", 2, **route), source="indicators")

                async def achieved() -> bool:
                    return (
                        await scalar(db, "SELECT status FROM notifications.target_states WHERE version = 2")
                        == "achieved"
                    )

                await eventually(achieved, what="the achieved status")
            await run_once(runtime)
        rows = await fetch(
            db,
            "SELECT a.kind, a.agency_code, (m.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day, m.notice "
            "FROM notifications.inbox_messages m JOIN notifications.alerts a ON a.id = m.alert_id "
            "WHERE m.fallback_for IS NULL AND a.kind LIKE 'target%' ORDER BY m.created_at, a.kind, a.agency_code",
        )
        got = [(r["kind"], r["agency_code"], r["day"], r["notice"]) for r in rows]
        risk_day = date(2025, 6, 1)
        assert got == [
            ("target_risk", "LMHTX", risk_day, "opened"),
            ("target_risk", "SNN", risk_day, "opened"),
            *[("target_risk", "SNN", date(2025, 6, d), "reminder") for d in (8, 15, 22, 29)],
            ("target_risk", "SNN", date(2025, 7, 1), "acknowledged"),
            ("target_deadline", "SNN", date(2025, 7, 4), "opened"),  # 180 days before 31/12/2025
            ("target_deadline", "SNN", date(2025, 10, 2), "reminder"),  # 90
            ("target_deadline", "SNN", date(2025, 12, 1), "reminder"),  # 30
            ("target_deadline", "SNN", date(2025, 12, 10), "resolved"),
            ("target_risk", "LMHTX", date(2025, 12, 10), "resolved"),
            ("target_risk", "SNN", date(2025, 12, 10), "resolved"),
        ]
