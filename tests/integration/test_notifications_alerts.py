"""Target alerts on real PostgreSQL and Kafka: status events in, alerts per routing out, no duplicates.

Target-status events are produced onto the service's topic exactly as the indicators service would
(CloudEvents binary mode, keyed by target id); what the service did is read back through its API, its
tables and the `notifications.alerts.v1` topic.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from shared.clock import FixedClock
from shared.events import topics
from shared.infra.stack import Stack
from tests.integration.alerts_support import (
    AGENCY_KINDS,
    OPERATOR,
    Producer,
    agency_event,
    at_vietnam,
    auth,
    fetch,
    notifications,
    own_environment,
    scalar,
    status,
)
from tests.integration.kafka_helpers import eventually, header, read_topic

pytestmark = pytest.mark.integration

TODAY = date(2025, 7, 15)


def consumed(outcome: str) -> float:
    labels = {"consumer": "notifications", "outcome": outcome}
    return REGISTRY.get_sample_value("htx_events_consumed_total", labels) or 0.0


async def alerts_of(api: Any, **params: str) -> list[dict[str, Any]]:
    r = await api.get("/v1/alerts", params={"limit": "200", **params}, headers=auth("SNN", OPERATOR))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


@dataclass
class System:
    env: dict[str, str]
    api: httpx.AsyncClient
    producer: Producer

    @property
    def db(self) -> str:
        return self.env["DATABASE_URL"]


@pytest.fixture(scope="module")
async def system(migrated_stack: Stack) -> AsyncIterator[System]:
    """One service (own database, own topics) for the module; each test works on targets of its own."""
    async with own_environment(migrated_stack.database_url, migrated_stack.bootstrap_servers) as env:
        async with notifications(env, FixedClock(at_vietnam(TODAY))) as (api, _, producer):
            for code in AGENCY_KINDS:
                await producer.send(agency_event(code))

            async def all_there() -> bool:
                return await scalar(env["DATABASE_URL"], "SELECT count(*) FROM notifications.agencies") == 15

            await eventually(all_there, within=60, what="the agency directory")
            yield System(env, api, producer)


async def test_a_target_moving_at_risk_back_and_missed_alerts_the_routed_agencies_once(system: System) -> None:
    api, producer = system.api, system.producer
    # SCT reads its messages in English; LMHTX keeps the default (Vietnamese).
    read = await api.get("/v1/agencies/SCT/channels", headers=auth("SCT"))
    assert read.status_code == 200, read.text
    put = await api.put(
        "/v1/agencies/SCT/channels",
        json={"language": "en", "digest": False, "channels": []},
        headers={**auth("SCT"), "If-Match": read.headers["ETag"]},
    )
    assert put.status_code == 200, put.text

    route = {"lead": "SCT", "coordinating": ["LMHTX"]}
    target = "II.2.e"
    await producer.send(status(target, "92", "on_track", "at_risk", 1, **route), source="indicators")

    async def count(n: int, state: str | None = None) -> bool:
        return len(await alerts_of(api, target=target, **({"state": state} if state else {}))) == n

    await eventually(lambda: count(2), what="two alerts (lead + coordinator)")
    by_agency = {a["agency_code"]: a for a in await alerts_of(api, target=target)}
    sct, lmhtx = by_agency["SCT"], by_agency["LMHTX"]
    assert (sct["role"], sct["severity"], sct["state"], sct["kind"]) == ("lead", "warning", "open", "target_risk")
    assert (lmhtx["role"], lmhtx["severity"]) == ("coordinating", "info")
    assert "at risk" in sct["title"] and "38.5" in sct["body"] and "31/12/2025" in sct["body"]
    assert "có nguy cơ không đạt" in lmhtx["title"] and "38,5" in lmhtx["body"] and "44,2" in lmhtx["body"]
    assert sct["data"]["current"] == "38.5" and sct["data"]["template"] == "target_risk"

    # A worse status updates the same alerts (never a second one).
    await producer.send(status(target, "92", "at_risk", "off_track", 2, current="30", **route), source="indicators")

    async def updated() -> bool:
        return all(a["version"] == 2 for a in await alerts_of(api, target=target))

    await eventually(updated, what="the alerts to be updated")
    now = {a["agency_code"]: a for a in await alerts_of(api, target=target)}
    assert {a["id"] for a in now.values()} == {sct["id"], lmhtx["id"]}
    assert now["SCT"]["severity"] == "critical" and now["SCT"]["data"]["current"] == "30"

    # Back on track: both resolved by the system, with a notice.
    await producer.send(status(target, "92", "off_track", "on_track", 3, **route), source="indicators")
    await eventually(lambda: count(2, "resolved"), what="the alerts to be resolved")
    assert {a["resolved_by"] for a in await alerts_of(api, target=target)} == {"system"}

    # Missed: new alerts, since the old ones are closed.
    await producer.send(status(target, "92", "on_track", "missed", 4, **route), source="indicators")
    await eventually(lambda: count(2, "open"), what="new alerts for the missed target")
    opened = {a["agency_code"]: a for a in await alerts_of(api, target=target, state="open")}
    assert opened["SCT"]["id"] != sct["id"] and opened["SCT"]["severity"] == "critical"

    # An older version arriving late (a new event id, so the inbox lets it in) changes nothing …
    applied = grown("applied", consumed("applied"), 1)
    await producer.send(status(target, "92", "at_risk", "off_track", 2, **route), source="indicators")
    await eventually(applied, what="the stale event")
    # … and neither does every event delivered a second time.
    duplicates = grown("duplicate", consumed("duplicate"), len(producer.sent))
    await producer.resend_all()
    await eventually(duplicates, what="the duplicates")

    alerts = await alerts_of(api, target=target)
    assert sorted((a["agency_code"], a["state"], a["version"]) for a in alerts) == [
        ("LMHTX", "open", 1),
        ("LMHTX", "resolved", 3),
        ("SCT", "open", 1),
        ("SCT", "resolved", 3),
    ]
    notices = await fetch(
        system.db,
        "SELECT m.agency_code, m.notice, count(*) AS n FROM notifications.inbox_messages m "
        "JOIN notifications.alerts a ON a.id = m.alert_id "
        "WHERE m.fallback_for IS NULL AND a.target_code = $1 GROUP BY 1, 2 ORDER BY 1, 2",
        target,
    )
    assert [tuple(r) for r in notices] == [
        ("LMHTX", "opened", 2),
        ("LMHTX", "resolved", 1),
        ("LMHTX", "updated", 1),
        ("SCT", "opened", 2),
        ("SCT", "resolved", 1),
        ("SCT", "updated", 1),
    ]
    outbox_sql = "SELECT count(*) FROM notifications.outbox WHERE payload->>'target_code' = $1"
    assert await scalar(system.db, outbox_sql, target) == 8

    bootstrap, topic = system.env["KAFKA_BOOTSTRAP_SERVERS"], system.env["HTX_TOPIC_PREFIX"] + topics.ALERTS

    async def on_the_topic() -> list[tuple[Any, dict[str, Any]]]:
        records = await read_topic(bootstrap, topic)
        return [(r, e) for r in records if (e := json.loads(r.value))["target_code"] == target]

    async def published() -> bool:
        return len(await on_the_topic()) >= 8

    await eventually(published, what="AlertV1 events on the topic")
    found = await on_the_topic()
    events = [e for _, e in found]
    assert len(events) == 8 and len({(e["alert_id"], e["version"]) for e in events}) == 8
    assert header(found[0][0], "ce_type") == "vn.gov.cantho.htx.notifications.alert.v1"
    assert sorted(e["state"] for e in events) == ["open"] * 6 + ["resolved"] * 2


def grown(outcome: str, before: float, by: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return consumed(outcome) - before >= by

    return check


async def test_the_alert_lifecycle_through_the_api(system: System) -> None:
    api, producer, db = system.api, system.producer, system.db
    targets = ("II.2.g", "II.2.d(3)", "II.2.b")
    for code, lead in zip(targets, ("SCT", "SCT", "SNN"), strict=True):
        event = status(code, "92", "on_track", "at_risk", 1, lead=lead, coordinating=["LMHTX"])
        await producer.send(event, source="indicators")

    async def mine() -> list[dict[str, Any]]:
        return [a for a in await alerts_of(api) if a["target_code"] in targets]

    async def six() -> bool:
        return len(await mine()) == 6

    await eventually(six, what="six alerts")
    everything = await alerts_of(api)

    # An agency sees its own alerts only; an operator sees all, page by page.
    own = await api.get("/v1/alerts", params={"limit": "200"}, headers=auth("SCT"))
    assert own.status_code == 200
    assert [a["id"] for a in own.json()["items"]] == [a["id"] for a in everything if a["agency_code"] == "SCT"]
    other = await api.get("/v1/alerts", params={"agency": "LMHTX"}, headers=auth("SCT"))
    assert other.status_code == 403 and other.headers["content-type"] == "application/problem+json"
    seen, cursor = [], None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/alerts", params=params, headers=auth("SNN", OPERATOR))).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [a["id"] for a in everything] and len(seen) >= 6
    filtered = await alerts_of(api, agency="LMHTX", kind="target_risk", unit="92", state="open")
    expected = [
        a["id"]
        for a in everything
        if (a["agency_code"], a["kind"], a["unit_code"], a["state"]) == ("LMHTX", "target_risk", "92", "open")
    ]
    assert [a["id"] for a in filtered] == expected and len(expected) >= 3
    assert (await api.get("/v1/alerts", params={"state": "closed"}, headers=auth("SCT"))).status_code == 422
    assert (await api.get("/v1/alerts", params={"limit": "201"}, headers=auth("SCT"))).status_code == 422

    [sct] = [a for a in own.json()["items"] if a["target_code"] == "II.2.g"]
    url = f"/v1/alerts/{sct['id']}"
    assert (await api.post(url + "/acknowledge")).status_code == 401
    assert (await api.post(url + "/acknowledge", headers=auth("SCT", "notifications:read"))).status_code == 403
    assert (await api.post(url + "/acknowledge", headers=auth("LMHTX"))).status_code == 404  # not LMHTX's
    acked = await api.post(url + "/acknowledge", headers=auth("SCT"))
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged" and acked.json()["acknowledged_by"] == "SCT/sct-officer"
    again = await api.post(url + "/acknowledge", headers=auth("SCT"))
    assert again.status_code == 200 and again.json()["version"] == acked.json()["version"]  # no second notice
    stale = await api.post(url + "/resolve", headers={**auth("SCT"), "If-Match": f'"{sct["id"]}.v1"'})
    assert stale.status_code == 412
    resolved = await api.post(url + "/resolve", headers={**auth("SCT"), "If-Match": acked.headers["ETag"]})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolved_by"] == "SCT/sct-officer" and resolved.json()["state"] == "resolved"
    twice = await api.post(url + "/resolve", headers=auth("SCT"))
    assert twice.status_code == 409 and twice.json()["status"] == 409
    # An operator may act on any agency's alert.
    [lm] = await alerts_of(api, agency="LMHTX", state="open", target="II.2.b")
    assert (await api.post(f"/v1/alerts/{lm['id']}/resolve", headers=auth("STC", OPERATOR))).status_code == 200
    notices = await fetch(
        db,
        "SELECT notice FROM notifications.inbox_messages WHERE alert_id = $1 AND fallback_for IS NULL "
        "ORDER BY created_at, notice",
        uuid.UUID(sct["id"]),
    )
    assert sorted(r["notice"] for r in notices) == ["acknowledged", "opened", "resolved"]


async def test_a_routing_override_changes_who_is_alerted(system: System) -> None:
    api, producer = system.api, system.producer
    url = "/v1/routing/III.3.a"
    read = await api.get(url, headers=auth("UBND-926"))
    assert read.status_code == 200 and read.json()["overrides"] == []
    body = {"overrides": [{"unit_code": "926", "lead_agency": "LMHTX", "coordinating": ["UBND-926"]}]}
    assert (await api.put(url, json=body, headers=auth("SNN"))).status_code == 428
    forbidden = await api.put(url, json=body, headers={**auth("UBND-926"), "If-Match": read.headers["ETag"]})
    assert forbidden.status_code == 403
    bad = {"overrides": [{"unit_code": "926", "lead_agency": "NOPE", "coordinating": ["UBND-926", "X"]}]}
    invalid = await api.put(url, json=bad, headers={**auth("SNN"), "If-Match": read.headers["ETag"]})
    assert invalid.status_code == 422
    assert [e["field"] for e in invalid.json()["errors"]] == [
        "overrides.0.lead_agency",
        "overrides.0.coordinating.1",
    ]
    put = await api.put(url, json=body, headers={**auth("SNN"), "If-Match": read.headers["ETag"]})
    assert put.status_code == 200, put.text
    assert put.json()["overrides"][0]["lead_agency"] == "LMHTX"
    stale = await api.put(url, json={"overrides": []}, headers={**auth("SNN"), "If-Match": read.headers["ETag"]})
    assert stale.status_code == 412

    for unit in ("926", "925"):
        event = status("III.3.a", unit, None, "not_achieved", 1, lead=f"UBND-{unit}", coordinating=["SNN"])
        await producer.send(event, source="indicators")

    async def four() -> bool:
        return len(await alerts_of(api, target="III.3.a")) == 4

    await eventually(four, what="alerts for both districts")
    got = sorted((a["unit_code"], a["agency_code"], a["role"]) for a in await alerts_of(api, target="III.3.a"))
    assert got == [
        ("925", "SNN", "coordinating"),
        ("925", "UBND-925", "lead"),
        ("926", "LMHTX", "lead"),
        ("926", "UBND-926", "coordinating"),
    ]
    routing = (await api.get(url, headers=auth("SNN"))).json()
    assert {r["unit_code"]: r["lead_agency"] for r in routing["plan_routing"]} == {
        "925": "UBND-925",
        "926": "UBND-926",
    }


async def test_channels_are_validated_field_by_field_and_secrets_never_shown(system: System) -> None:
    api, db = system.api, system.db
    url = "/v1/agencies/UBND-926/channels"
    assert (await api.get(url, headers=auth("UBND-925"))).status_code == 403
    assert (await api.get("/v1/agencies/NOPE/channels", headers=auth("SNN", OPERATOR))).status_code == 404
    read = await api.get(url, headers=auth("UBND-926"))
    etag = read.headers["ETag"]
    bad = {
        "language": "vi",
        "channels": [
            {"kind": "email", "address": "not-an-address"},
            {"kind": "webhook", "address": "ftp://egov.example.vn/hook", "secret": "short"},
            {"kind": "webhook", "address": "https://egov.example.vn/hook"},
        ],
    }
    r = await api.put(url, json=bad, headers={**auth("UBND-926"), "If-Match": etag})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == [
        "channels.0.address",
        "channels.1.address",
        "channels.1.secret",
        "channels.2.secret",
    ]
    assert (
        await api.put(url, json={"language": "fr"}, headers={**auth("UBND-926"), "If-Match": etag})
    ).status_code == 422
    good = {
        "language": "vi",
        "digest": True,
        "channels": [
            {"kind": "email", "address": "phongkinhte@phongdien.cantho.gov.vn"},
            {"kind": "webhook", "address": "https://egov.phongdien.vn/hook", "secret": "k" * 32, "language": "en"},
        ],
    }
    saved = await api.put(url, json=good, headers={**auth("UBND-926"), "If-Match": etag})
    assert saved.status_code == 200, saved.text
    assert "k" * 32 not in saved.text and [c["has_secret"] for c in saved.json()["channels"]] == [False, True]
    ids = [c["id"] for c in saved.json()["channels"]]
    # Listing the webhook again without its secret keeps the secret and the channel's id.
    again = {**good, "channels": [{"kind": "webhook", "address": "https://egov.phongdien.vn/hook"}]}
    kept = await api.put(url, json=again, headers={**auth("UBND-926"), "If-Match": saved.headers["ETag"]})
    assert kept.status_code == 200, kept.text
    assert [c["id"] for c in kept.json()["channels"]] == ids[1:] and kept.json()["channels"][0]["has_secret"]
    assert await scalar(db, "SELECT secret FROM notifications.channels") == "k" * 32


async def test_every_endpoint_needs_a_token_and_every_body_has_a_vietnamese_example(system: System) -> None:
    api = system.api
    spec = (await api.get("/openapi.json")).json()
    mine = [
        "/v1/alerts",
        "/v1/alerts/{alert_id}",
        "/v1/alerts/{alert_id}/acknowledge",
        "/v1/alerts/{alert_id}/resolve",
        "/v1/deadlines",
        "/v1/report-requests",
        "/v1/agencies/{code}/channels",
        "/v1/routing/{target_code}",
    ]
    assert set(mine) <= set(spec["paths"])
    for path in mine:
        for method, op in spec["paths"][path].items():
            concrete = path.replace("{alert_id}", "3f1c2b7e-8d2a-4e59-9f3c-5a7b1d2e4c60")
            concrete = concrete.replace("{code}", "SNN").replace("{target_code}", "II.2.a")
            r = await api.request(method.upper(), concrete, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            if "requestBody" in op:
                content = op["requestBody"]["content"]["application/json"]
                ref = content["schema"].get("$ref", "")
                schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else {}
                examples = content["schema"].get("examples") or schema.get("examples")
                assert examples, (method, path)
                text = json.dumps(examples, ensure_ascii=False)
                assert "cantho" in text or "UBND" in text or "triều cường" in text, (method, path)
