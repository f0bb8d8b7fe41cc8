"""The write authorisation matrix: every seeded agency × every write endpoint each app exposes × every
jurisdiction (the city and each district, or each agency's own objects), over HTTP on real PostgreSQL and Kafka.

A new write endpoint without a rule fails the suite. Each refusal is re-read to prove nothing was stored; each
allowed write is re-read to prove it was.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.pagination import MAX_PAGE_SIZE
from tests.conftest import report
from tests.integration.alerts_support import fetch as sql
from tests.integration.attack_support import (
    AGENCY,
    AGENCY_CODES,
    INDICATORS,
    INDICATORS_ADMIN,
    JURISDICTIONS,
    NOTIFY,
    PLAN,
    REGISTRY,
    REPORTING_AUTHORITY,
    ROUTED_TARGET,
    World,
    attack_world,  # noqa: F401  (pytest finds it as this module's `world`)
    create_cooperative,
    elsewhere,
    is_problem,
    message_of,
    named,
    operations,
    registry_may_write,
    sheet,
    unique_name,
    upload,
)
from tests.integration.notifications_support import raise_alert
from tests.integration.registry_support import TODAY, cooperative_body, registration_code, status_body

pytestmark = pytest.mark.integration

# -- the write matrix: rules -------------------------------------------------------------------------------

Attempt = tuple[httpx.Response, bool | None]  # the answer, and whether the target changed (None: not observable)


@dataclass(frozen=True)
class Variant:
    """One way of writing through one endpoint, with its rule: may `agency` do it to `target`?"""

    service: str
    endpoint: str
    name: str
    targets: list[str]
    allowed: Callable[[str, str], bool]
    attempt: Callable[[World, str, str, bool], Awaitable[Attempt]]
    refusal: Callable[[str, str], set[int]] = lambda agency, target: {403}
    lanes: bool = True
    """Targets are independent: each target's agencies run in sequence, the targets side by side."""


async def observe(
    w: World,
    key: tuple[str, str] | None,
    read: Callable[[], Awaitable[Any]],
    act: Callable[[Any], Awaitable[httpx.Response]],
) -> Attempt:
    """Read the target (or take the lane's last reading), act on it, read again: the answer, and whether the target
    changed. `act` gets the reading (e.g. for its ETag)."""
    before = w.states.pop(key) if key in w.states else await read()
    response = await act(before)
    after = await read()
    if key is not None:
        w.states[key] = after
    return response, after != before


async def coop_state(w: World, coop_id: str, *, reports: bool = False) -> tuple[str, Any]:
    """The ETag and the cooperative as read (every change bumps its version), with its reports if asked."""
    r = await w.registry.get(f"/v1/cooperatives/{coop_id}", headers=w.token("SNN", REGISTRY))
    assert r.status_code == 200, r.text
    if not reports:
        return r.headers["etag"], r.json()
    history = await w.registry.get(f"/v1/cooperatives/{coop_id}/status-reports", headers=w.token("SNN", REGISTRY))
    return r.headers["etag"], (r.json(), history.json())


async def reg_create(w: World, agency: str, unit: str, fresh: bool) -> Attempt:
    name, tag = unique_name()
    body = cooperative_body(unit_code=unit, name=name)
    r = await w.registry.post("/v1/cooperatives", json=body, headers=w.token(agency, REGISTRY))
    return r, await named(w, tag) > 0


async def _patch(w: World, agency: str, coop_id: str, change: dict[str, Any], key: tuple[str, str] | None) -> Attempt:
    async def act(before: tuple[str, Any]) -> httpx.Response:
        headers = {**w.token(agency, REGISTRY), "If-Match": before[0]}
        return await w.registry.patch(f"/v1/cooperatives/{coop_id}", json=change, headers=headers)

    return await observe(w, key, lambda: coop_state(w, coop_id), act)


async def reg_edit(w: World, agency: str, unit: str, fresh: bool) -> Attempt:
    change = {"name": unique_name()[0], "contact_name": "Kẻ Tấn Công"}
    return await _patch(w, agency, w.coops[unit]["id"], change, ("edit", unit))


async def reg_move(w: World, agency: str, unit: str, fresh: bool) -> Attempt:
    if fresh:  # an allowed move takes the cooperative away: move one of its own
        return await _patch(
            w, agency, (await create_cooperative(w, unit))["id"], {"unit_code": elsewhere(agency, unit)}, None
        )
    return await _patch(w, agency, w.coops[unit]["id"], {"unit_code": elsewhere(agency, unit)}, ("move", unit))


async def reg_status(w: World, agency: str, unit: str, fresh: bool) -> Attempt:
    coop_id = w.coops[unit]["id"]

    async def read() -> Any:
        return (await coop_state(w, coop_id, reports=True))[1]

    async def act(_: Any) -> httpx.Response:
        url = f"/v1/cooperatives/{coop_id}/status-reports"
        return await w.registry.post(url, json=status_body(), headers=w.token(agency, REGISTRY))

    return await observe(w, ("status", unit), read, act)


async def reg_import_new(w: World, agency: str, unit: str, fresh: bool) -> Attempt:
    name, tag = unique_name()
    r = await upload(w, agency, sheet(registration_code(), name, unit))
    return r, await named(w, tag) > 0


async def reg_import_existing(w: World, agency: str, unit: str, fresh: bool) -> Attempt:
    coop = w.coops[unit]

    async def read() -> Any:
        return (await coop_state(w, coop["id"]))[1]

    async def act(_: Any) -> httpx.Response:
        return await upload(w, agency, sheet(coop["registration_code"], unique_name()[0], unit))

    return await observe(w, ("import", unit), read, act)


def import_refusal(agency: str, unit: str) -> set[int]:
    # Documented (transfer.py): rows outside the jurisdiction are listed in ONE 422 so the agency learns which
    # rows to take out; an agency that does not keep the registry at all gets 403, like the API.
    return {422} if AGENCY[agency].writes_registry else {403}


async def submissions_of(w: World, agency: str) -> int:
    params = {"agency": agency, "limit": str(MAX_PAGE_SIZE)}
    r = await w.registry.get("/v1/report-submissions", params=params, headers=w.token("SNN", REGISTRY))
    assert r.status_code == 200 and r.json()["next_cursor"] is None, r.text
    return len(r.json()["items"])


async def reg_submit(w: World, agency: str, owner: str, fresh: bool) -> Attempt:
    body: dict[str, Any] = {
        "kind": "semi_annual",
        "period": "2025-H1",
        "reference": f"{uuid.uuid4().hex[:6]}/BC",
        "submitted_on": "2025-07-01",
        "summary": "Báo cáo sơ kết 6 tháng đầu năm 2025",
    }
    if owner != agency:
        body["agency_code"] = owner  # filing in another agency's name

    async def act(_: Any) -> httpx.Response:
        r = await w.registry.post("/v1/report-submissions", json=body, headers=w.token(agency, REGISTRY))
        if r.status_code == 201:
            assert r.json()["agency_code"] == agency, r.text  # the submission is always the caller's
        return r

    return await observe(w, ("submissions", owner), lambda: submissions_of(w, owner), act)


async def alert_state(w: World, owner: str, alert_id: uuid.UUID) -> Any:
    r = await w.notifications.get(f"/v1/alerts/{alert_id}", headers=w.token(owner, NOTIFY))
    assert r.status_code == 200, r.text
    return r.json()


def alert_action(action: str) -> Callable[[World, str, str, bool], Awaitable[Attempt]]:
    async def attempt(w: World, agency: str, owner: str, fresh: bool) -> Attempt:
        alert_id = (await raise_alert(w.notifications_runtime, owner, w.clock.now())).id if fresh else w.alerts[owner]
        return await observe(
            w,
            None if fresh else (action, owner),
            lambda: alert_state(w, owner, alert_id),
            lambda _: w.notifications.post(f"/v1/alerts/{alert_id}/{action}", headers=w.token(agency, NOTIFY)),
        )

    return attempt


async def message_state(w: World, owner: str, message_id: uuid.UUID) -> Any:
    """The message's row as stored (the inbox API has no single-message read; listing SNN's is long)."""
    rows = await sql(w.database_url, "SELECT * FROM notifications.inbox_messages WHERE id = $1", message_id)
    assert len(rows) == 1 and rows[0]["agency_code"] == owner, f"message {message_id} not in {owner}'s inbox"
    return dict(rows[0])


async def notif_read(w: World, agency: str, owner: str, fresh: bool) -> Attempt:
    if fresh:
        message_id = await message_of(w, owner, (await raise_alert(w.notifications_runtime, owner, w.clock.now())).id)
    else:
        message_id = w.messages[owner]
    return await observe(
        w,
        None if fresh else ("read", owner),
        lambda: message_state(w, owner, message_id),
        lambda _: w.notifications.post(f"/v1/inbox/{message_id}/read", headers=w.token(agency, NOTIFY)),
    )


async def channels_state(w: World, owner: str) -> tuple[str, Any]:
    r = await w.notifications.get(f"/v1/agencies/{owner}/channels", headers=w.token(owner, NOTIFY))
    assert r.status_code == 200, r.text
    return r.headers["etag"], r.json()


async def notif_channels(w: World, agency: str, owner: str, fresh: bool) -> Attempt:
    body = {"language": "en", "channels": [{"kind": "email", "address": f"{agency.lower()}@attacker.example"}]}

    async def act(before: tuple[str, Any]) -> httpx.Response:
        headers = {**w.token(agency, NOTIFY), "If-Match": before[0]}
        return await w.notifications.put(f"/v1/agencies/{owner}/channels", json=body, headers=headers)

    return await observe(w, ("channels", owner), lambda: channels_state(w, owner), act)


async def ad_hoc_deadlines(w: World, owner: str) -> int:
    params = {"agency": owner, "limit": str(MAX_PAGE_SIZE)}
    r = await w.notifications.get("/v1/deadlines", params=params, headers=w.token(REPORTING_AUTHORITY, NOTIFY))
    assert r.status_code == 200 and r.json()["next_cursor"] is None, r.text
    return sum(1 for d in r.json()["items"] if d["kind"] == "ad_hoc")


async def notif_request(w: World, agency: str, owner: str, fresh: bool) -> Attempt:
    body = {"title": "Báo cáo đột xuất kiểm thử", "agencies": [owner], "due_on": str(TODAY.date() + timedelta(30))}
    return await observe(
        w,
        ("requests", owner),
        lambda: ad_hoc_deadlines(w, owner),
        lambda _: w.notifications.post("/v1/report-requests", json=body, headers=w.token(agency, NOTIFY)),
    )


async def routing_state(w: World) -> tuple[str, Any]:
    r = await w.notifications.get(f"/v1/routing/{ROUTED_TARGET}", headers=w.token("SNN", NOTIFY))
    assert r.status_code == 200, r.text
    return r.headers["etag"], r.json()["overrides"]


async def notif_routing(w: World, agency: str, unit: str, fresh: bool) -> Attempt:
    body = {"overrides": [{"unit_code": unit, "lead_agency": agency, "coordinating": []}]}

    async def act(before: tuple[str, Any]) -> httpx.Response:
        headers = {**w.token(agency, NOTIFY), "If-Match": before[0]}
        return await w.notifications.put(f"/v1/routing/{ROUTED_TARGET}", json=body, headers=headers)

    return await observe(w, ("routing", ""), lambda: routing_state(w), act)


async def plan_title(w: World) -> str:
    r = await w.indicators.get(f"/v1/plans/{PLAN}", headers=w.token("SNN", INDICATORS))
    assert r.status_code == 200, r.text
    return str(r.json()["title"])


def plan_put(scopes: str) -> Callable[[World, str, str, bool], Awaitable[Attempt]]:
    async def attempt(w: World, agency: str, unit: str, fresh: bool) -> Attempt:
        r = await w.indicators.get(f"/v1/plans/{PLAN}", headers=w.token(agency, INDICATORS))
        document = r.json()
        before = document["title"]
        document["title"] = f"{before.split(' [')[0]} [{agency} {uuid.uuid4().hex[:6]}]"
        r = await w.indicators.put(f"/v1/plans/{PLAN}", json=document, headers=w.token(agency, scopes))
        return r, await plan_title(w) != before

    return attempt


def recompute(scopes: str) -> Callable[[World, str, str, bool], Awaitable[Attempt]]:
    async def attempt(w: World, agency: str, unit: str, fresh: bool) -> Attempt:
        r = await w.indicators.post("/v1/recompute", headers=w.token(agency, scopes))
        return r, None  # a recompute changes nothing when the values are right (it reports differences)

    return attempt


def own(agency: str, owner: str) -> bool:
    return agency == owner


def write_rules() -> list[Variant]:
    """docs/decisions.md: Registry "Who writes the registry"; Notifications "API access", "Routing", "Ad-hoc
    requests", "Inbox API"; Indicators "Plans" (scope `indicators:admin`)."""
    units, agencies, city = JURISDICTIONS, AGENCY_CODES, ["92"]

    def keeper_in(agency: str, unit: str) -> bool:
        return registry_may_write(agency, {unit})

    def keeper_move(agency: str, unit: str) -> bool:
        return registry_may_write(agency, {unit, elsewhere(agency, unit)})

    def oversees_or_own(agency: str, owner: str) -> bool:
        return agency in (owner, REPORTING_AUTHORITY)

    coop, coop_id = "/v1/cooperatives", "/v1/cooperatives/{cooperative_id}"
    return [
        Variant("registry", f"POST {coop}", "register in unit", units, keeper_in, reg_create),
        Variant("registry", f"PATCH {coop_id}", "edit a cooperative of unit", units, keeper_in, reg_edit),
        Variant("registry", f"PATCH {coop_id}", "move a cooperative out of unit", units, keeper_move, reg_move),
        Variant("registry", f"POST {coop_id}/status-reports", "report on unit", units, keeper_in, reg_status),
        Variant(
            "registry",
            f"POST {coop}/import",
            "import a new row in unit",
            units,
            keeper_in,
            reg_import_new,
            import_refusal,
        ),
        Variant(
            "registry",
            f"POST {coop}/import",
            "import a change of unit's cooperative",
            units,
            keeper_in,
            reg_import_existing,
            import_refusal,
        ),
        Variant(
            "registry",
            "POST /v1/report-submissions",
            "file a report as agency",
            agencies,
            own,
            reg_submit,
            lambda agency, owner: {422},  # there is no field naming the agency: the caller is the author
        ),
        Variant(
            "notifications",
            "POST /v1/alerts/{alert_id}/acknowledge",
            "acknowledge agency's alert",
            agencies,
            own,
            alert_action("acknowledge"),
            lambda a, o: {404},  # another agency's alert is 404, never 403
        ),
        Variant(
            "notifications",
            "POST /v1/alerts/{alert_id}/resolve",
            "resolve agency's alert",
            agencies,
            own,
            alert_action("resolve"),
            lambda a, o: {404},
        ),
        Variant(
            "notifications",
            "POST /v1/inbox/{message_id}/read",
            "mark agency's message read",
            agencies,
            own,
            notif_read,
            lambda a, o: {404},
        ),
        Variant(
            "notifications",
            "PUT /v1/agencies/{code}/channels",
            "replace agency's channels",
            agencies,
            own,
            notif_channels,
        ),
        Variant(
            "notifications",
            "POST /v1/report-requests",
            "request a report from agency",
            agencies,
            oversees_or_own,
            notif_request,
        ),
        Variant(
            "notifications",
            "PUT /v1/routing/{target_code}",
            "route unit's target",
            units,
            lambda agency, unit: agency == REPORTING_AUTHORITY,
            notif_routing,
            lanes=False,  # one routing document
        ),
        Variant(
            "indicators",
            "PUT /v1/plans/{code}",
            "replace the plan (agency token)",
            city,
            lambda a, u: False,
            plan_put(INDICATORS),
        ),
        Variant(
            "indicators",
            "PUT /v1/plans/{code}",
            "replace the plan (indicators:admin)",
            city,
            lambda a, u: True,
            plan_put(INDICATORS_ADMIN),
        ),
        Variant(
            "indicators",
            "POST /v1/recompute",
            "recompute (agency token)",
            city,
            lambda a, u: False,
            recompute(INDICATORS),
        ),
        Variant(
            "indicators",
            "POST /v1/recompute",
            "recompute (indicators:admin)",
            city,
            lambda a, u: True,
            recompute(INDICATORS_ADMIN),
        ),
    ]


@dataclass
class Outcome:
    variant: Variant
    agency: str
    target: str
    allowed: bool
    status: int
    problem: bool
    changed: bool | None
    body: str

    @property
    def holds(self) -> bool:
        if self.allowed:
            return 200 <= self.status < 300 and self.changed is not False
        return self.status in self.variant.refusal(self.agency, self.target) and self.problem and not self.changed

    def __str__(self) -> str:
        expected = "allowed" if self.allowed else "refused"
        return (
            f"{self.variant.service} {self.variant.endpoint} [{self.variant.name}] {self.agency} → {self.target}: "
            f"expected {expected}, got {self.status} (changed={self.changed}) {self.body[:300]}"
        )


async def test_every_write_endpoint_has_a_matrix_rule(world: World) -> None:
    exposed = {f"{name} {op}" for name, app in world.apps.items() for op in operations(app, writes=True)}
    ruled = {f"{v.service} {v.endpoint}" for v in write_rules()}
    assert not exposed - ruled, f"write endpoints without an authorisation-matrix rule: {sorted(exposed - ruled)}"
    assert not ruled - exposed, f"matrix rules for endpoints that no longer exist: {sorted(ruled - exposed)}"


@pytest.mark.parametrize("service", ["registry", "notifications", "indicators"])
async def test_authorisation_matrix(world: World, service: str) -> None:
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    variants = [v for v in write_rules() if v.service == service]

    async def lane(variant: Variant, targets: list[str]) -> None:
        for target in targets:
            for agency in AGENCY_CODES:
                allowed = variant.allowed(agency, target)
                response, changed = await variant.attempt(world, agency, target, allowed)
                outcomes.append(
                    Outcome(
                        variant,
                        agency,
                        target,
                        allowed,
                        response.status_code,
                        is_problem(response),
                        changed,
                        response.text,
                    )
                )

    for variant in variants:
        if variant.lanes:
            await asyncio.gather(*(lane(variant, [target]) for target in variant.targets))
        else:
            await lane(variant, variant.targets)
    refused = [o for o in outcomes if not o.allowed]
    allowed = [o for o in outcomes if o.allowed]
    endpoints = len({v.endpoint for v in variants})
    targets = sorted({len(v.targets) for v in variants})
    line = (
        f"[attack] matrix {service}: {len(AGENCY_CODES)} agencies × {endpoints} write endpoints "
        f"({len(variants)} cases) × {'/'.join(map(str, targets))} jurisdictions = {len(outcomes)} requests; "
        f"refused {sum(o.holds for o in refused)}/{len(refused)}; allowed {sum(o.holds for o in allowed)}/"
        f"{len(allowed)} ({time.perf_counter() - started:.0f}s)"
    )
    report(line)
    failures = [str(o) for o in outcomes if not o.holds]
    assert not failures, f"{len(failures)} matrix case(s) broke the rules:\n" + "\n".join(failures[:40])
