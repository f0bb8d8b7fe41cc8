"""Notifications delivery on real PostgreSQL and Kafka: e-mail to a real SMTP server, signed webhooks to real
HTTP receivers with retries, fallback to SNN's inbox, daily digests, the SSE stream and the inbox API.

Alerts are made the way the alert lifecycle makes them (an Alert row and `dispatch.notify` in one
transaction); the worker's passes are driven with `deliver_due(runtime, now)` and a FixedClock.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notifications.api.stream import hub_of
from services.notifications.db.models import Delivery, InboxMessage, StreamEvent
from services.notifications.domain.stream import events_after, sequence_pending
from services.notifications.workers.delivery import build_digests, deliver_due
from tests.conftest import report
from tests.integration.notifications_support import (
    NOW,
    SECRET,
    Receiver,
    Service,
    add_channel,
    attempts_of,
    auth,
    deliveries_of,
    raise_alert,
    serve,
    smtp_server,
    sse,
    started,
)

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verifier() -> Any:
    """The verification snippet of docs/webhooks.md, executed exactly as printed there."""
    snippet = re.search(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert snippet is not None
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), str(DOCS), "exec"), namespace)
    return namespace["verify_htx_webhook"]


async def inbox_of(service: Service, agency: str, **params: Any) -> list[dict[str, Any]]:
    response = await service.client.get("/v1/inbox", headers=auth(agency), params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_email_goes_out_over_smtp_in_each_channels_language(isolated_env: dict[str, str]) -> None:
    with smtp_server() as (box, port):
        cfg = {"run_workers": True, "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
        async with started(**cfg, delivery_poll_seconds=0.1) as service:
            await add_channel(service.runtime, "UBND-926", "email", "vanthu@phongdien.cantho.gov.vn")
            await add_channel(service.runtime, "UBND-926", "email", "it@phongdien.cantho.gov.vn", language="en")
            alert = await raise_alert(service.runtime, "UBND-926", NOW)
            for _ in range(200):  # the worker (wired into the app) sends them on its own
                # and records each as sent only after the SMTP server took it: wait for both.
                deliveries = await deliveries_of(service.runtime, alert.id)
                if len(box.messages) == 2 and {d.status for d in deliveries} == {"sent"}:
                    break
                await asyncio.sleep(0.05)
    by_address = {m["To"]: m for m in box.messages}
    vi = by_address["vanthu@phongdien.cantho.gov.vn"]
    assert vi["Subject"] == "[HTX Monitor] Cảnh báo: Nhắc hạn nộp báo cáo 6 tháng đầu năm 2025 (hạn 10/06/2025)"
    body = vi.get_content()
    assert "Báo cáo 6 tháng đầu năm 2025 cần gửi SNN chậm nhất hết ngày 10/06/2025 (còn 7 ngày)." in body
    assert str(alert.id) in body
    en = by_address["it@phongdien.cantho.gov.vn"]
    assert en["Subject"] == "[HTX Monitor] Alert: Reminder: semi-annual report (first half of 2025) (due 10/06/2025)"
    assert {d.status for d in deliveries} == {"sent"} and {d.attempts for d in deliveries} == {1}
    assert {m["Message-ID"] for m in box.messages} == {f"<{d.id}@htx-monitor.cantho.gov.vn>" for d in deliveries}


async def test_webhook_failing_twice_then_accepting_gets_one_accepted_delivery(isolated_env: dict[str, str]) -> None:
    receiver = Receiver([500, 500, 200])
    verify = documented_verifier()
    async with serve(receiver.app()) as url, started() as service:
        await add_channel(service.runtime, "SCT", "webhook", f"{url}/hooks/htx")
        alert = await raise_alert(service.runtime, "SCT", NOW)
        [delivery] = await deliveries_of(service.runtime, alert.id)
        at = NOW
        for expected_status in ("pending", "pending", "sent"):
            assert await deliver_due(service.runtime, at) == 1
            [delivery] = await deliveries_of(service.runtime, alert.id)
            assert delivery.status == expected_status
            if delivery.next_attempt_at is not None:
                assert await deliver_due(service.runtime, delivery.next_attempt_at - timedelta(seconds=1)) == 0
                at = delivery.next_attempt_at
        assert await deliver_due(service.runtime, at + timedelta(days=1)) == 0
        log = await service.client.get("/v1/deliveries", params={"alert_id": str(alert.id)}, headers=auth("SCT"))
    assert [status for _, _, status in receiver.requests] == [500, 500, 200]  # exactly one accepted
    assert {h["x-htx-delivery"] for h, _, _ in receiver.requests} == {str(delivery.id)}
    for headers, body, _ in receiver.requests:
        assert headers["x-htx-event"] == "alert.opened"
        now = float(headers["x-htx-timestamp"])
        signed = {"X-HTX-Timestamp": headers["x-htx-timestamp"], "X-HTX-Signature": headers["x-htx-signature"]}
        assert verify(SECRET, signed, body, now=now)
        assert not verify("another-secret", signed, body, now=now)
        assert not verify(SECRET, signed, body + b" ", now=now)
        assert not verify(SECRET, signed, body, now=now + 301)  # replayed later
        assert "Nhắc hạn nộp báo cáo 6 tháng đầu năm 2025".encode() in body  # UTF-8, unescaped
    assert log.status_code == 200
    [item] = log.json()["items"]
    assert item["status"] == "sent" and item["attempts"] == 3
    assert [(a["attempt"], a["ok"], a["detail"]) for a in item["attempt_log"]] == [
        (1, False, "HTTP 500"),
        (2, False, "HTTP 500"),
        (3, True, "HTTP 200"),
    ]


async def test_webhook_failing_for_good_backs_off_then_fails_and_falls_back(isolated_env: dict[str, str]) -> None:
    receiver = Receiver([503])
    async with serve(receiver.app()) as url, started(delivery_base_delay_seconds=30) as service:
        await add_channel(service.runtime, "SCT", "webhook", f"{url}/hooks/htx")
        alert = await raise_alert(service.runtime, "SCT", NOW)
        at: datetime | None = NOW
        while at is not None:
            assert await deliver_due(service.runtime, at) == 1
            [delivery] = await deliveries_of(service.runtime, alert.id)
            at = delivery.next_attempt_at
        attempts = await attempts_of(service.runtime, delivery.id)
        snn = await inbox_of(service, "SNN")
        second = await raise_alert(service.runtime, "SCT", NOW + timedelta(days=1))  # channel known broken now
        snn_after = await inbox_of(service, "SNN")
    assert delivery.status == "failed" and delivery.attempts == 6 and delivery.last_error == "HTTP 503"
    assert len(receiver.requests) == 6 and [a.ok for a in attempts] == [False] * 6
    waits = [(b.at - a.at).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
    assert waits == sorted(waits) and len(set(waits)) == 5  # growing
    for n, wait in enumerate(waits, start=1):
        assert 30 * 2 ** (n - 1) / 2 <= wait <= 30 * 2 ** (n - 1)  # base·2^(n-1), jittered into its upper half
    assert [(m["alert_id"], m["fallback_for"]) for m in snn] == [(str(alert.id), "SCT")]
    assert (str(second.id), "SCT") in [(m["alert_id"], m["fallback_for"]) for m in snn_after]


async def test_webhook_refused_with_4xx_fails_at_once(isolated_env: dict[str, str]) -> None:
    receiver = Receiver([410])
    async with serve(receiver.app()) as url, started() as service:
        await add_channel(service.runtime, "SCT", "webhook", f"{url}/hooks/htx")
        alert = await raise_alert(service.runtime, "SCT", NOW)
        assert await deliver_due(service.runtime, NOW) == 1
        [delivery] = await deliveries_of(service.runtime, alert.id)
    assert delivery.status == "failed" and delivery.attempts == 1 and delivery.last_error == "HTTP 410"


async def test_agency_without_channels_falls_back_to_snn_inbox(isolated_env: dict[str, str]) -> None:
    with smtp_server() as (_, port):
        async with started(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False) as service:
            await add_channel(service.runtime, "UBND-926", "email", "vanthu@phongdien.cantho.gov.vn")
            reached = await raise_alert(service.runtime, "UBND-926", NOW)  # has a channel: no fallback
            orphan = await raise_alert(service.runtime, "UBND-917", NOW)  # has none
            snn = await inbox_of(service, "SNN")
            own = await inbox_of(service, "UBND-917")
            log = await service.client.get(
                "/v1/deliveries", params={"alert_id": str(orphan.id)}, headers=auth("UBND-917")
            )
            hidden = await service.client.get(
                "/v1/deliveries", params={"alert_id": str(orphan.id)}, headers=auth("UBND-926")
            )
            seen_by_snn = await service.client.get(
                "/v1/deliveries", params={"alert_id": str(orphan.id)}, headers=auth("SNN")
            )
    assert [(m["alert_id"], m["fallback_for"]) for m in snn] == [(str(orphan.id), "UBND-917")]
    assert str(reached.id) not in {m["alert_id"] for m in snn}
    assert snn[0]["title"] == own[0]["title"] == orphan.title and own[0]["fallback_for"] is None
    assert log.status_code == 200 and log.json()["fallback_to"] == ["SNN"] and log.json()["items"] == []
    assert hidden.status_code == 404 and hidden.headers["content-type"] == "application/problem+json"
    assert seen_by_snn.status_code == 200  # it received the alert


async def test_digest_agency_gets_one_email_a_day(isolated_env: dict[str, str]) -> None:
    with smtp_server() as (box, port):
        cfg = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False, "digest_hour": 7}
        async with started(digest={"UBND-926"}, **cfg) as service:
            runtime = service.runtime
            await add_channel(runtime, "UBND-926", "email", "vanthu@phongdien.cantho.gov.vn")
            day = [NOW + timedelta(hours=h) for h in (0, 4, 14)]  # 08:00, 12:00, 22:00 on 03/06 (Vietnam)
            alerts = [await raise_alert(runtime, "UBND-926", at, days_left=7 - i) for i, at in enumerate(day)]
            late = await raise_alert(runtime, "UBND-926", NOW + timedelta(hours=17), days_left=6)  # 04/06 01:00
            assert await deliver_due(runtime, NOW + timedelta(hours=16)) == 0  # held, not sent one by one
            assert await build_digests(runtime, NOW + timedelta(hours=22, minutes=59)) == 0  # 04/06 06:59
            assert await build_digests(runtime, NOW + timedelta(hours=23)) == 1  # 04/06 07:00
            assert await build_digests(runtime, NOW + timedelta(hours=23)) == 0
            assert await deliver_due(runtime, NOW + timedelta(hours=23)) == 1
            [held] = await deliveries_of(runtime, alerts[0].id)
            log = await service.client.get(
                "/v1/deliveries", params={"alert_id": str(alerts[1].id)}, headers=auth("UBND-926")
            )
            [still_held] = await deliveries_of(runtime, late.id)
    [mail] = box.messages
    assert mail["Subject"] == "[HTX Monitor] Tổng hợp ngày 03/06/2025: 3 thông báo"
    body = mail.get_content()
    assert [body.count(f"(còn {n} ngày)") for n in (7, 6, 5)] == [1, 1, 1]  # the day's three; not the late one
    assert all(a.body in body for a in alerts) and body.count(alerts[0].title) == 3
    assert held.status == "digested" and held.digest_id is not None and still_held.status == "held"
    items = {i["notice"]: i for i in log.json()["items"]}
    assert items["opened"]["status"] == "digested" and items["digest"]["status"] == "sent"
    assert items["digest"]["id"] == items["opened"]["digest_id"] and len(items["digest"]["attempt_log"]) == 1


async def test_stream_live_resume_isolation_and_limit(isolated_env: dict[str, str]) -> None:
    async with started(stream_poll_seconds=0.5) as service:
        runtime = service.runtime
        async with serve(service.app) as url:
            async with (
                sse(url, auth("UBND-926")) as mine,
                sse(url, auth("UBND-917")) as other,
                sse(url, auth("SCT", "notifications:read notifications:operator")) as operator,
            ):
                first = await raise_alert(runtime, "UBND-926", NOW)
                event = await mine.next()
                assert (event.event, event.data["alert_id"], event.data["notice"]) == (
                    "alert.opened",
                    str(first.id),
                    "opened",
                )
                assert (await operator.next()).data["alert_id"] == str(first.id)
                theirs = await raise_alert(runtime, "UBND-917", NOW)
                assert (await other.next()).data["alert_id"] == str(theirs.id)  # never saw UBND-926's alert
            missed = [await raise_alert(runtime, "UBND-926", NOW + timedelta(minutes=m)) for m in (1, 2)]
            await raise_alert(runtime, "UBND-917", NOW + timedelta(minutes=3))
            async with sse(url, {**auth("UBND-926"), "Last-Event-ID": event.id}) as resumed:
                got = [await resumed.next(), await resumed.next()]
                assert [e.data["alert_id"] for e in got] == [str(a.id) for a in missed]
                assert int(got[0].id) > int(event.id) and int(got[1].id) > int(got[0].id)
                live = await raise_alert(runtime, "UBND-926", NOW + timedelta(minutes=4))
                assert (await resumed.next()).data["alert_id"] == str(live.id)


async def test_shutdown_ends_open_streams_and_stops_the_stream_reader(isolated_env: dict[str, str]) -> None:
    """Left running, the hub's reader outlived the service, and its LISTEN connection retried every second
    against a database that was gone (seen across tests, which share one event loop)."""
    async with started() as service:
        hub = hub_of(service.runtime)
        subscriber = await hub.subscribe("UBND-926", sees_all=False, only=None)
        reader = hub._task
        assert reader is not None and not reader.done()
    assert reader.done()
    assert subscriber.closed and subscriber.queue.get_nowait() is None  # its stream ends; the client resumes
    assert hub.connections("UBND-926") == 0
    assert "stream_hub" not in service.runtime.extras


async def test_stream_connection_limit_and_auth(isolated_env: dict[str, str]) -> None:
    async with started(stream_max_connections_per_agency=2) as service, serve(service.app) as url:
        async with sse(url, auth("UBND-926")), sse(url, auth("UBND-926")):
            async with httpx.AsyncClient(base_url=url) as plain:
                refused = await plain.get("/v1/stream", headers=auth("UBND-926"))
                other_agency = await plain.get("/v1/stream", headers=auth("UBND-917"), params={"agency": "UBND-926"})
                anonymous = await plain.get("/v1/stream")
        async with sse(url, auth("UBND-926")):  # the slots are given back when streams close
            pass
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["limit"] == 2 and refused.headers["retry-after"] == "30"
    assert other_agency.status_code == 403 and anonymous.status_code == 401


async def test_stream_positions_follow_commit_order(isolated_env: dict[str, str]) -> None:
    async with started() as service:
        runtime = service.runtime
        for agency in ("UBND-926", "UBND-917"):  # a channel each, so no fallback copies join the log
            await add_channel(runtime, agency, "webhook", "http://127.0.0.1:9/unused")
        early = await raise_alert(runtime, "UBND-926", NOW)
        async with runtime.sessionmaker() as slow, slow.begin():  # takes its id first, commits last
            slow.add(StreamEvent(agency_code="SCT", alert_id=early.id, event="alert.test", data={}, created_at=NOW))
            await slow.flush()
            await raise_alert(runtime, "UBND-917", NOW)
            async with runtime.sessionmaker() as reader, reader.begin():
                await sequence_pending(reader)
                seen = [(e.seq, e.agency_code) for e in await events_after(reader, 0)]
        async with runtime.sessionmaker() as reader, reader.begin():
            await sequence_pending(reader)
            after = [(e.seq, e.agency_code) for e in await events_after(reader, seen[-1][0])]
    assert seen == [(1, "UBND-926"), (2, "UBND-917")]
    assert after == [(3, "SCT")]  # not skipped although its id is lower than UBND-917's


async def test_inbox_list_unread_count_and_mark_read(isolated_env: dict[str, str]) -> None:
    async with started() as service:
        alerts = [await raise_alert(service.runtime, "UBND-926", NOW + timedelta(minutes=m)) for m in range(3)]
        await raise_alert(service.runtime, "UBND-917", NOW)
        me, client = auth("UBND-926"), service.client
        first = await client.get("/v1/inbox", headers=me, params={"limit": 2})
        second = await client.get("/v1/inbox", headers=me, params={"limit": 2, "cursor": first.json()["next_cursor"]})
        newest = first.json()["items"][0]
        read = await client.post(f"/v1/inbox/{newest['id']}/read", headers=me)
        again = await client.post(f"/v1/inbox/{newest['id']}/read", headers=me)
        count = await client.get("/v1/inbox/unread-count", headers=me)
        unread = await inbox_of(service, "UBND-926", unread_only=True)
        theirs = (await inbox_of(service, "UBND-917"))[0]["id"]
        foreign = await client.post(f"/v1/inbox/{theirs}/read", headers=me)
        missing = await client.post(f"/v1/inbox/{uuid.uuid4()}/read", headers=me)
        malformed = await client.post("/v1/inbox/not-a-uuid/read", headers=me)
        read_only = await client.post(f"/v1/inbox/{newest['id']}/read", headers=auth("UBND-926", "notifications:read"))
        anonymous = await client.get("/v1/inbox")
        bad_cursor = await client.get("/v1/inbox", headers=me, params={"cursor": "bogus"})
        too_many = await client.get("/v1/inbox", headers=me, params={"limit": 201})
        async with service.runtime.sessionmaker() as session:
            stored = await session.scalar(select(InboxMessage).where(InboxMessage.id == uuid.UUID(theirs)))
    ids = [m["alert_id"] for m in first.json()["items"] + second.json()["items"]]
    assert ids == [str(a.id) for a in reversed(alerts)] and second.json()["next_cursor"] is None
    assert (
        read.status_code == 200
        and read.json()["read_at"] is not None
        and again.json()["read_at"] == read.json()["read_at"]
    )
    assert count.json() == {"agency_code": "UBND-926", "unread": 2}
    assert [m["alert_id"] for m in unread] == [str(alerts[1].id), str(alerts[0].id)]
    assert foreign.status_code == 404 and missing.status_code == 404 and stored is not None and stored.read_at is None
    assert foreign.headers["content-type"] == "application/problem+json"
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "path.message_id"
    assert read_only.status_code == 403 and anonymous.status_code == 401
    assert bad_cursor.status_code == 422 and too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "query.limit"


async def test_lease_keeps_a_claimed_delivery_from_a_second_sender(isolated_env: dict[str, str]) -> None:
    receiver = Receiver([200])
    async with serve(receiver.app()) as url, started(delivery_lease_seconds=300) as service:
        await add_channel(service.runtime, "SCT", "webhook", f"{url}/hooks/htx")
        alert = await raise_alert(service.runtime, "SCT", NOW)
        async with service.runtime.sessionmaker() as session, session.begin():  # a sender that dies after claiming
            [row] = (await session.scalars(select(Delivery).where(Delivery.alert_id == alert.id))).all()
            row.attempts, row.next_attempt_at = 1, NOW + timedelta(seconds=300)
        assert await deliver_due(service.runtime, NOW + timedelta(seconds=299)) == 0  # still leased
        assert await deliver_due(service.runtime, NOW + timedelta(seconds=300)) == 1  # lease over: sent again
        [delivery] = await deliveries_of(service.runtime, alert.id)
    assert delivery.status == "sent" and delivery.attempts == 2 and len(receiver.requests) == 1


async def test_one_agencys_timing_out_webhooks_do_not_delay_another_agencys_delivery(
    isolated_env: dict[str, str],
) -> None:
    """20 webhooks of SCT whose receiver never answers in time, then one fast webhook of UBND-926: the fast one
    is delivered within seconds while SCT's are still timing out (they hold only their destination's slots)."""
    release = asyncio.Event()
    slow_hits: list[str] = []

    async def hang(request: Request) -> Response:
        slow_hits.append(request.url.path)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), timeout=60)
        return Response(status_code=200)

    slow_app = Starlette(routes=[Route("/hooks/{n}", hang, methods=["POST"])])
    fast = Receiver([200])
    cfg = {"run_workers": True, "delivery_poll_seconds": 0.1, "webhook_timeout_seconds": 8}
    async with serve(slow_app) as slow_url, serve(fast.app()) as fast_url, started(**cfg) as service:
        try:
            for n in range(20):
                await add_channel(service.runtime, "SCT", "webhook", f"{slow_url}/hooks/{n}")
            await add_channel(service.runtime, "UBND-926", "webhook", f"{fast_url}/hooks/htx")
            slow = await raise_alert(service.runtime, "SCT", NOW - timedelta(minutes=1))
            for _ in range(100):  # the slow sends are under way
                if slow_hits:
                    break
                await asyncio.sleep(0.05)
            assert slow_hits, "the slow receiver never got a request"
            began = time.monotonic()
            quick = await raise_alert(service.runtime, "UBND-926", NOW)
            for _ in range(300):  # bounded: 15 s at most
                if fast.requests:
                    break
                await asyncio.sleep(0.05)
            took = time.monotonic() - began
            slow_rows = await deliveries_of(service.runtime, slow.id)
            for _ in range(100):  # the fast one is recorded as sent once its answer is in
                [quick_row] = await deliveries_of(service.runtime, quick.id)
                if quick_row.status == "sent":
                    break
                await asyncio.sleep(0.05)
        finally:
            release.set()
    report(f"[delivery isolation] fast webhook delivered {took:.2f} s after its alert, 20 slow ones pending")
    assert len(fast.requests) == 1 and took < 5, f"fast webhook took {took:.1f} s"
    assert quick_row.status == "sent"
    assert len(slow_rows) == 20 and {d.status for d in slow_rows} == {"pending"}  # still timing out
    assert len(set(slow_hits)) <= 2  # the slow destination held at most its own two slots


async def test_the_reporting_authority_reads_every_agencys_alerts_others_only_their_own(
    isolated_env: dict[str, str],
) -> None:
    async with started() as service:
        sct = await raise_alert(service.runtime, "SCT", NOW)
        client = service.client
        by_snn = await client.get("/v1/alerts", params={"agency": "SCT"}, headers=auth("SNN"))
        one_by_snn = await client.get(f"/v1/alerts/{sct.id}", headers=auth("SNN"))
        snn_acks = await client.post(f"/v1/alerts/{sct.id}/acknowledge", headers=auth("SNN"))
        by_district = await client.get("/v1/alerts", params={"agency": "SCT"}, headers=auth("UBND-926"))
        one_by_district = await client.get(f"/v1/alerts/{sct.id}", headers=auth("UBND-926"))
        snn_default = await client.get("/v1/alerts", headers=auth("SNN"))
    assert by_snn.status_code == 200, by_snn.text
    assert [a["id"] for a in by_snn.json()["items"]] == [str(sct.id)]
    assert one_by_snn.status_code == 200 and one_by_snn.json()["agency_code"] == "SCT"
    assert snn_acks.status_code == 404  # reading is not acting: SCT acknowledges its own alerts
    assert by_district.status_code == 403 and by_district.headers["content-type"] == "application/problem+json"
    assert one_by_district.status_code == 404
    assert snn_default.status_code == 200 and snn_default.json()["items"] == []  # default: the caller's own
