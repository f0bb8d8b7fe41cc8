"""Every read endpoint as every agency: registry and indicators data for anyone with the read scope,
notifications only for the agency they concern. A new read endpoint without a rule fails the suite.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import report
from tests.integration.alerts_support import fetch as sql
from tests.integration.attack_support import (
    AGENCY_CODES,
    INDICATORS,
    JURISDICTIONS,
    LOG,
    PLAN,
    REPORTING_AUTHORITY,
    ROUTED_TARGET,
    World,
    attack_world,  # noqa: F401  (pytest finds it as this module's `world`)
    is_problem,
    operations,
)

pytestmark = pytest.mark.integration

ANYONE = ["-"]


def everyone(w: World, agency: str, target: str) -> bool:
    return True


@dataclass(frozen=True)
class ReadRule:
    service: str
    endpoint: str
    targets: list[str]
    request: Callable[[World, str], tuple[str, dict[str, str]]]  # (path, query) for a target
    allowed: Callable[[World, str, str], bool] = everyone
    refusal: int = 403
    check: Callable[[World, str, str, httpx.Response], Awaitable[bool]] | None = None


def at(path: str, **query: str) -> Callable[[World, str], tuple[str, dict[str, str]]]:
    return lambda w, target: (path, dict(query))


async def own_identity(w: World, agency: str, target: str, r: httpx.Response) -> bool:
    return bool(r.json()["agency"] == agency)


async def own_count(w: World, agency: str, target: str, r: httpx.Response) -> bool:
    return bool(r.json()["agency_code"] == agency)


async def own_messages(w: World, agency: str, target: str, r: httpx.Response) -> bool:
    """An inbox lists the agency's own alerts' messages, and for SNN the fallback copies of other agencies'."""
    items = r.json()["items"]
    rows = await sql(
        w.database_url,
        "SELECT id::text, agency_code FROM notifications.alerts WHERE id = ANY($1::uuid[])",
        [uuid.UUID(m["alert_id"]) for m in items],
    )
    owner = {row["id"]: row["agency_code"] for row in rows}
    return all(owner[m["alert_id"]] == agency or (m["fallback_for"] and agency == "SNN") for m in items)


def read_rules(w: World) -> list[ReadRule]:
    """Registry and indicators data is public to every agency holding the read scope (decisions: "Reads need only
    the `registry:read` scope"); notifications are per agency ("API access", "Inbox API", "Who sees which
    stream"; SNN also sees every deadline, and the deliveries of alerts it received as fallback copies)."""
    units, agencies = JURISDICTIONS, AGENCY_CODES
    coop = "/v1/cooperatives/{cooperative_id}"

    def coop_path(suffix: str = "") -> Callable[[World, str], tuple[str, dict[str, str]]]:
        return lambda w, unit: (f"/v1/cooperatives/{w.coops[unit]['id']}{suffix}", {})

    def is_own(w: World, agency: str, owner: str) -> bool:
        return agency == owner

    def own_or_authority(w: World, agency: str, owner: str) -> bool:
        # The reporting authority reads every agency's alerts, as it sees every deadline; others their own.
        return agency in (owner, REPORTING_AUTHORITY)

    def received(w: World, agency: str, owner: str) -> bool:
        return agency == owner or (agency, w.alerts[owner]) in w.received

    return [
        ReadRule("registry", "GET /v1/me", ANYONE, at("/v1/me"), check=own_identity),
        ReadRule("registry", "GET /v1/org-units", ANYONE, at("/v1/org-units", parent="92")),
        ReadRule("registry", "GET /v1/org-units/{code}", units, lambda w, u: (f"/v1/org-units/{u}", {})),
        ReadRule("registry", "GET /v1/agencies", ANYONE, at("/v1/agencies")),
        ReadRule("registry", "GET /v1/agencies/{code}", agencies, lambda w, a: (f"/v1/agencies/{a}", {})),
        ReadRule("registry", "GET /v1/cooperatives", units, lambda w, u: ("/v1/cooperatives", {"unit": u})),
        ReadRule(
            "registry", "GET /v1/cooperatives/export", units, lambda w, u: ("/v1/cooperatives/export", {"unit": u})
        ),
        ReadRule("registry", f"GET {coop}", units, coop_path()),
        ReadRule("registry", f"GET {coop}/status-reports", units, coop_path("/status-reports")),
        ReadRule("registry", f"GET {coop}/history", units, coop_path("/history")),
        ReadRule(
            "registry", "GET /v1/report-submissions", agencies, lambda w, a: ("/v1/report-submissions", {"agency": a})
        ),
        ReadRule("indicators", "GET /v1/me", ANYONE, at("/v1/me"), check=own_identity),
        ReadRule("indicators", "GET /v1/plans", ANYONE, at("/v1/plans")),
        ReadRule("indicators", "GET /v1/plans/{code}", ANYONE, at(f"/v1/plans/{PLAN}")),
        ReadRule("indicators", "GET /v1/plans/{code}/targets", ANYONE, at(f"/v1/plans/{PLAN}/targets")),
        ReadRule("indicators", "GET /v1/progress", units, lambda w, u: ("/v1/progress", {"unit": u})),
        ReadRule(
            "indicators",
            "GET /v1/targets/{target_id}/progress",
            units,
            lambda w, u: (f"/v1/targets/{PLAN}:{ROUTED_TARGET}/progress", {"unit": u}),
        ),
        ReadRule(
            "indicators",
            "GET /v1/indicators/{code}/values",
            units,
            lambda w, u: ("/v1/indicators/fair_or_better_share/values", {"unit": u}),
        ),
        ReadRule("notifications", "GET /v1/me", ANYONE, at("/v1/me"), check=own_identity),
        ReadRule(
            "notifications", "GET /v1/alerts", agencies, lambda w, a: ("/v1/alerts", {"agency": a}), own_or_authority
        ),
        ReadRule(
            "notifications",
            "GET /v1/alerts/{alert_id}",
            agencies,
            lambda w, a: (f"/v1/alerts/{w.alerts[a]}", {}),
            own_or_authority,
            refusal=404,
        ),
        ReadRule(
            "notifications",
            "GET /v1/deadlines",
            agencies,
            lambda w, a: ("/v1/deadlines", {"agency": a}),
            lambda w, agency, owner: agency in (owner, REPORTING_AUTHORITY),
        ),
        ReadRule(
            "notifications",
            "GET /v1/agencies/{code}/channels",
            agencies,
            lambda w, a: (f"/v1/agencies/{a}/channels", {}),
            is_own,
        ),
        ReadRule("notifications", "GET /v1/routing/{target_code}", ANYONE, at(f"/v1/routing/{ROUTED_TARGET}")),
        ReadRule("notifications", "GET /v1/inbox", ANYONE, at("/v1/inbox"), check=own_messages),
        ReadRule("notifications", "GET /v1/inbox/unread-count", ANYONE, at("/v1/inbox/unread-count"), check=own_count),
        ReadRule(
            "notifications",
            "GET /v1/deliveries",
            agencies,
            lambda w, a: ("/v1/deliveries", {"alert_id": str(w.alerts[a])}),
            received,
            refusal=404,
        ),
        ReadRule("notifications", "GET /v1/stream", agencies, lambda w, a: ("/v1/stream", {"agency": a}), is_own),
    ]


READ_SCOPES = {"registry": "registry:read", "indicators": INDICATORS, "notifications": "notifications:read"}


async def open_stream(w: World, agency: str, params: dict[str, str]) -> httpx.Response:
    """A stream needs a real server (the in-process transport would wait for its end): open, look, close."""
    async with httpx.AsyncClient(base_url=w.notifications_url, timeout=30) as client:
        async with client.stream(
            "GET", "/v1/stream", params=params, headers=w.token(agency, READ_SCOPES["notifications"])
        ) as r:
            if not r.headers.get("content-type", "").startswith("text/event-stream"):
                await r.aread()
                LOG.add("GET /v1/stream", r)
            return r


async def test_reads_follow_the_documented_rules(world: World) -> None:
    started = time.perf_counter()
    rules = read_rules(world)
    exposed = {f"{name} {op}" for name, app in world.apps.items() for op in operations(app, writes=False)}
    ruled = {f"{r.service} {r.endpoint}" for r in rules}
    assert not exposed - ruled, f"read endpoints without a rule: {sorted(exposed - ruled)}"
    assert not ruled - exposed, f"read rules for endpoints that no longer exist: {sorted(ruled - exposed)}"
    rows = await sql(
        world.database_url,
        "SELECT agency_code, alert_id FROM notifications.inbox_messages WHERE alert_id = ANY($1::uuid[])",
        list(world.alerts.values()),
    )
    world.received = {(row["agency_code"], row["alert_id"]) for row in rows}
    failures: list[str] = []
    counts = {"allowed": 0, "refused": 0, "held": 0}

    async def one(rule: ReadRule, agency: str, target: str) -> None:
        path, params = rule.request(world, target)
        allowed = rule.allowed(world, agency, target)
        if rule.endpoint == "GET /v1/stream":
            r = await open_stream(world, agency, params)
            ok = r.status_code == 200 if allowed else r.status_code == rule.refusal
        else:
            client = world.clients[rule.service]
            r = await client.get(path, params=params, headers=world.token(agency, READ_SCOPES[rule.service]))
            if allowed:
                ok = r.status_code == 200 and (rule.check is None or await rule.check(world, agency, target, r))
            else:
                ok = r.status_code == rule.refusal and is_problem(r)
        counts["allowed" if allowed else "refused"] += 1
        counts["held"] += ok
        if not ok:
            failures.append(
                f"{rule.service} {rule.endpoint} {agency} → {target}: expected "
                f"{'allowed' if allowed else rule.refusal}, got {r.status_code}"
            )

    async def lane(rule: ReadRule) -> None:
        if rule.allowed is not everyone:  # the answer depends on who asks: every agency × every target
            pairs = [(agency, target) for target in rule.targets for agency in AGENCY_CODES]
        else:  # the same answer for everybody: every agency and every target at least once
            n = max(len(AGENCY_CODES), len(rule.targets))
            pairs = [(AGENCY_CODES[i % len(AGENCY_CODES)], rule.targets[i % len(rule.targets)]) for i in range(n)]
        for agency, target in pairs:
            await one(rule, agency, target)

    await asyncio.gather(*(lane(rule) for rule in rules))
    total = counts["allowed"] + counts["refused"]
    report(
        f"[attack] reads: {len(AGENCY_CODES)} agencies × {len(rules)} read endpoints × their targets = {total} "
        f"requests; as documented {counts['held']}/{total} ({counts['refused']} refused) "
        f"({time.perf_counter() - started:.0f}s)"
    )
    assert not failures, f"{len(failures)} read(s) broke the rules:\n" + "\n".join(failures[:40])
