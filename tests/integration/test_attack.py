"""Under attack: the authorisation matrix, forged tokens, resource limits, and no leaks — over HTTP, on real
PostgreSQL and Kafka.

The three services run in-process in one environment of their own (fresh database, private topics): the
registry seeds the agencies and units and publishes them, the indicators and notifications services build their
projections from those events. The matrix is generated: every seeded agency × every write endpoint each app
exposes (a new endpoint without a rule fails the suite) × every jurisdiction (the city and each district, or
each agency's own objects). Each refusal is re-read to prove nothing was stored; each allowed write is re-read to
prove it was. Every response body of the module is kept and checked for stack traces and SQL at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.indicators.app import create_app as create_indicators
from services.indicators.settings import IndicatorsSettings
from services.notifications.app import create_app as create_notifications
from services.notifications.settings import NotificationsSettings
from services.registry.app import create_app as create_registry
from services.registry.settings import RegistrySettings
from shared.clock import FixedClock
from shared.infra.stack import Stack
from shared.pagination import MAX_PAGE_SIZE
from shared.service import Runtime
from shared.settings import AuthSettings
from tests.conftest import report
from tests.integration.alerts_support import fetch as sql
from tests.integration.alerts_support import own_environment, scalar
from tests.integration.apps import running
from tests.integration.attack_support import (
    AGENCY,
    AGENCY_CODES,
    JURISDICTIONS,
    REPORTING_AUTHORITY,
    ResponseLog,
    bad_tokens,
    bearer,
    elsewhere,
    fill_path,
    is_problem,
    operations,
    paged_operations,
    registry_may_write,
)
from tests.integration.kafka_helpers import eventually
from tests.integration.notifications_support import raise_alert, serve
from tests.integration.registry_support import TODAY, cooperative_body, registration_code, status_body

pytestmark = pytest.mark.integration

IMPORT_LIMIT = 64 * 1024
STREAM_LIMIT = 3
REGISTRY = "registry:read registry:write"
NOTIFY = "notifications:read notifications:write"
INDICATORS = "indicators:read"
INDICATORS_ADMIN = "indicators:read indicators:admin"
EVERYTHING = f"{REGISTRY} {NOTIFY} {INDICATORS_ADMIN} notifications:operator"
ROUTED_TARGET = "II.2.a"
PLAN = "219-KH-UBND"
PROFILE_HEADERS = [
    "Mã số HTX",
    "Tên HTX",
    "Mã đơn vị hành chính",
    "Lĩnh vực",
    "Ngày thành lập",
    "Tình trạng pháp lý",
    "Người liên hệ",
]

FILE_PART = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
LOG = ResponseLog()
FIGURES: dict[str, Any] = {}


@dataclass
class World:
    auth: AuthSettings
    clock: FixedClock
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    notifications_url: str
    notifications_runtime: Runtime
    database_url: str
    coops: dict[str, dict[str, Any]] = field(default_factory=dict)  # one target cooperative per jurisdiction
    alerts: dict[str, uuid.UUID] = field(default_factory=dict)  # one target alert per agency
    messages: dict[str, uuid.UUID] = field(default_factory=dict)  # one target inbox message per agency
    received: set[tuple[str, uuid.UUID]] = field(default_factory=set)  # (agency, alert) pairs in an inbox
    states: dict[tuple[str, str], Any] = field(default_factory=dict)
    """What a lane last read of its target: the next case's "before" (a lane is the only writer of its target)."""
    _tokens: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    @property
    def registry(self) -> httpx.AsyncClient:
        return self.clients["registry"]

    @property
    def indicators(self) -> httpx.AsyncClient:
        return self.clients["indicators"]

    @property
    def notifications(self) -> httpx.AsyncClient:
        return self.clients["notifications"]

    def token(self, agency: str, scopes: str) -> dict[str, str]:
        key = (agency, scopes)
        if key not in self._tokens:
            self._tokens[key] = bearer(self.auth, agency, scopes)
        return self._tokens[key]


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


def unique_name() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:12]
    return f"HTX Kiểm thử {tag}", tag


# -- the world: three services, their reference data, one target object per jurisdiction ---------------------


@pytest.fixture(scope="module")
async def world(migrated_stack: Stack, auth_settings: AuthSettings) -> AsyncIterator[World]:
    clock = FixedClock(TODAY)
    async with own_environment(migrated_stack.database_url, migrated_stack.bootstrap_servers) as env:
        apps = {
            "registry": create_registry(settings=RegistrySettings(import_max_bytes=IMPORT_LIMIT), clock=clock),
            "indicators": create_indicators(settings=IndicatorsSettings(), clock=clock),
            "notifications": create_notifications(
                settings=NotificationsSettings(scheduler_enabled=False, stream_max_connections_per_agency=STREAM_LIMIT),
                clock=clock,
            ),
        }
        async with contextlib.AsyncExitStack() as stack:
            clients = {name: LOG.hook(await stack.enter_async_context(running(app))) for name, app in apps.items()}
            url = await stack.enter_async_context(serve(apps["notifications"]))
            runtime = apps["notifications"].state.runtime
            w = World(auth_settings, clock, apps, clients, url, runtime, env["DATABASE_URL"])
            await _projections_arrive(w, env["DATABASE_URL"])
            await _targets(w)
            yield w


async def _projections_arrive(w: World, database_url: str) -> None:
    async def agencies_there() -> bool:
        return await scalar(database_url, "SELECT count(*) FROM notifications.agencies") == len(AGENCY_CODES)

    await eventually(agencies_there, within=60, what="the notifications agency projection")

    async def units_there() -> bool:
        r = await w.indicators.get("/v1/progress", params={"unit": "926"}, headers=w.token("SNN", INDICATORS))
        return r.status_code == 200

    await eventually(units_there, within=60, what="the indicators unit projection")


async def _targets(w: World) -> None:
    snn = w.token("SNN", REGISTRY)
    for unit in JURISDICTIONS:
        w.coops[unit] = await create_cooperative(w, unit)
    for agency in AGENCY_CODES:
        w.alerts[agency] = (await raise_alert(w.notifications_runtime, agency, w.clock.now())).id
        w.messages[agency] = await message_of(w, agency, w.alerts[agency])
    assert snn  # the registry's own token works (sanity)


async def create_cooperative(w: World, unit: str) -> dict[str, Any]:
    name, _ = unique_name()
    r = await w.registry.post(
        "/v1/cooperatives", json=cooperative_body(unit_code=unit, name=name), headers=w.token("SNN", REGISTRY)
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def message_of(w: World, agency: str, alert_id: uuid.UUID) -> uuid.UUID:
    rows = await sql(
        w.database_url,
        "SELECT id FROM notifications.inbox_messages WHERE alert_id = $1 AND agency_code = $2 AND fallback_for IS NULL",
        alert_id,
        agency,
    )
    assert len(rows) == 1, f"no inbox message of {agency} for alert {alert_id}"
    return uuid.UUID(str(rows[0]["id"]))


async def inbox(w: World, agency: str) -> list[dict[str, Any]]:
    return await pages(w.notifications, "/v1/inbox", w.token(agency, NOTIFY))


async def pages(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": str(MAX_PAGE_SIZE), **({"cursor": cursor} if cursor else {})}
        r = await client.get(path, params=query, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


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


async def coop_state(w: World, coop_id: str, *, reports: bool = False) -> tuple[str, Any]:
    """The ETag and the cooperative as read (every change bumps its version), with its reports if asked."""
    r = await w.registry.get(f"/v1/cooperatives/{coop_id}", headers=w.token("SNN", REGISTRY))
    assert r.status_code == 200, r.text
    if not reports:
        return r.headers["etag"], r.json()
    history = await w.registry.get(f"/v1/cooperatives/{coop_id}/status-reports", headers=w.token("SNN", REGISTRY))
    return r.headers["etag"], (r.json(), history.json())


async def named(w: World, tag: str) -> int:
    r = await w.registry.get("/v1/cooperatives", params={"q": tag}, headers=w.token("SNN", REGISTRY))
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


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


def sheet(code: str, name: str, unit: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(PROFILE_HEADERS)
    writer.writerow([code, name, unit, "trồng trọt", "12/03/2015", "đang hoạt động", "Nguyễn Văn Ba"])
    return out.getvalue().encode()


async def upload(w: World, agency: str, content: bytes, filename: str = "htx.csv") -> httpx.Response:
    return await w.registry.post(
        "/v1/cooperatives/import",
        files={"file": (filename, content, "text/csv")},
        headers=w.token(agency, REGISTRY),
    )


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
    FIGURES["write_endpoints"] = len(exposed)


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
    FIGURES.setdefault("matrix", []).append((len(outcomes), len(refused), len(allowed), endpoints))
    failures = [str(o) for o in outcomes if not o.holds]
    assert not failures, f"{len(failures)} matrix case(s) broke the rules:\n" + "\n".join(failures[:40])


# -- the read rules ----------------------------------------------------------------------------------------

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
        ReadRule("notifications", "GET /v1/alerts", agencies, lambda w, a: ("/v1/alerts", {"agency": a}), is_own),
        ReadRule(
            "notifications",
            "GET /v1/alerts/{alert_id}",
            agencies,
            lambda w, a: (f"/v1/alerts/{w.alerts[a]}", {}),
            is_own,
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


# -- tokens ------------------------------------------------------------------------------------------------

SAMPLE = {
    "registry": {"code": "926"},
    "indicators": {"code": PLAN, "target_id": f"{PLAN}:{ROUTED_TARGET}"},
    "notifications": {"code": "UBND-926", "target_code": ROUTED_TARGET},
}
SCOPES = {"registry": REGISTRY, "indicators": INDICATORS_ADMIN, "notifications": f"{NOTIFY} notifications:operator"}


def every_operation(w: World) -> list[tuple[str, str, str]]:
    """(service, method, concrete path) for every documented /v1 operation."""
    found = []
    for service, app in w.apps.items():
        for op in operations(app, writes=True) + operations(app, writes=False):
            method, path = op.split(" ", 1)
            values = {"cooperative_id": w.coops["926"]["id"], **SAMPLE[service]}
            found.append((service, method, fill_path(path, values)))
    return found


async def test_forged_expired_and_foreign_tokens_get_401_and_missing_scope_403(world: World) -> None:
    failures: list[str] = []
    refused = forged = scoped = 0
    for service, method, path in every_operation(world):
        client = world.clients[service]
        body = {} if method != "GET" else None
        for name, value in bad_tokens(world.auth, "SNN", SCOPES[service]).items():
            headers = {} if value is None else {"Authorization": value}
            r = await client.request(method, path, json=body, headers=headers)
            forged += 1
            www = r.headers.get("www-authenticate", "")
            if r.status_code == 401 and is_problem(r) and www.startswith("Bearer"):
                refused += 1
            else:
                failures.append(f"{service} {method} {path} [{name}]: {r.status_code} {www!r} {r.text[:200]}")
        others = " ".join(scope for other, scope in SCOPES.items() if other != service)
        r = await client.request(method, path, json=body, headers=world.token("SNN", others))
        if r.status_code == 403 and is_problem(r) and "insufficient_scope" in r.headers.get("www-authenticate", ""):
            scoped += 1
        else:
            failures.append(f"{service} {method} {path} [other services' scopes]: {r.status_code} {r.text[:200]}")
    operations_count = len(every_operation(world))
    kinds = len(bad_tokens(world.auth, "SNN", REGISTRY))
    report(
        f"[attack] tokens: 3 services, {operations_count} operations × {kinds} bad tokens (none, tampered, alg=none, "
        f"expired, wrong iss/aud, …) → 401 {refused}/{forged}; missing scope → 403 {scoped}/{operations_count}"
    )
    assert not failures, "\n".join(failures[:40])


# -- resource limits ---------------------------------------------------------------------------------------


async def test_page_size_is_capped_with_a_422_naming_the_field(world: World) -> None:
    checked = 0
    for service, app in world.apps.items():
        for path, maximum in paged_operations(app):
            assert maximum == MAX_PAGE_SIZE, f"{service} {path} documents limit ≤ {maximum}"
            url = fill_path(path, {"cooperative_id": world.coops["926"]["id"]})
            headers = world.token("SNN", EVERYTHING)
            client = world.clients[service]
            for limit in (MAX_PAGE_SIZE + 1, 10**9, 0, -1):
                r = await client.get(url, params={"limit": str(limit)}, headers=headers)
                assert r.status_code == 422 and is_problem(r), (service, path, limit, r.text)
                assert [e["field"] for e in r.json()["errors"]] == ["query.limit"], r.text
            r = await client.get(url, params={"limit": str(MAX_PAGE_SIZE)}, headers=headers)
            assert r.status_code == 200, (service, path, r.text)
            checked += 1
    report(f"[attack] page size: {checked} list endpoints refuse limit > {MAX_PAGE_SIZE} with 422 naming query.limit")


async def test_request_bodies_above_the_limit_get_413(world: World) -> None:
    checked = 0
    for service, app in world.apps.items():
        client = world.clients[service]
        limit = app.state.runtime.settings.max_body_bytes
        has_body = {
            f"{method.upper()} {path}": "requestBody" in item
            for path, methods in app.openapi()["paths"].items()
            for method, item in methods.items()
        }
        for op in operations(app, writes=True):
            method, path = op.split(" ", 1)
            url = fill_path(path, {"cooperative_id": world.coops["926"]["id"], **SAMPLE[service]})
            cap = limit if not url.endswith("/import") else IMPORT_LIMIT + 64 * 1024
            big = b'{"name": "' + b"x" * cap + b'"}'
            r = await client.request(
                method,
                url,
                content=big,
                headers={**world.token("SNN", SCOPES[service]), "Content-Type": "application/json"},
            )
            assert r.status_code == 413 and is_problem(r), (service, op, r.status_code, r.text[:200])

            if not has_body[op]:
                checked += 1
                continue  # no request body: the app never reads one, so a streamed one costs nothing
            multipart = url.endswith("/import")
            media = "multipart/form-data; boundary=xyz" if multipart else "application/json"

            async def chunks(cap: int = cap, multipart: bool = multipart) -> AsyncIterator[bytes]:
                yield FILE_PART if multipart else b'{"name": "'
                for _ in range(cap // 65536 + 2):
                    yield b"x" * 65536
                yield b"\r\n--xyz--\r\n" if multipart else b'"}'

            r = await client.request(
                method, url, content=chunks(), headers={**world.token("SNN", SCOPES[service]), "Content-Type": media}
            )
            assert r.status_code == 413 and is_problem(r), (service, op, "chunked", r.status_code, r.text[:200])
            checked += 1
        assert (await client.get("/healthz")).status_code == 200
    report(
        f"[attack] body size: {checked} write endpoints answer 413 problem+json above the limit (declared or chunked)"
    )


async def test_an_import_file_above_the_limit_gets_413_and_writes_nothing(world: World) -> None:
    name, tag = unique_name()
    content = sheet(registration_code(), name, "926")
    padding = "\n".join("" for _ in range(IMPORT_LIMIT))  # blank lines are skipped: only the size is wrong
    r = await upload(world, "SNN", content + padding.encode() + b"\n")
    assert r.status_code == 413 and is_problem(r), r.text
    assert r.json()["max_bytes"] == IMPORT_LIMIT
    assert await named(world, tag) == 0
    r = await upload(world, "SNN", content + b"\n" * (IMPORT_LIMIT + 128 * 1024))
    assert r.status_code == 413 and is_problem(r), r.text
    r = await upload(world, "SNN", content)
    assert r.status_code == 200 and await named(world, tag) == 1, r.text
    report(f"[attack] import: files above REGISTRY_IMPORT_MAX_BYTES ({IMPORT_LIMIT} B here) get 413, nothing written")


def nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


async def test_deep_and_huge_json_is_refused_cleanly(world: World) -> None:
    targets = {
        "registry": ("POST", "/v1/cooperatives"),
        "notifications": ("POST", "/v1/report-requests"),
        "indicators": ("PUT", f"/v1/plans/{PLAN}"),
    }
    megabyte = "x" * 1_000_000
    refused = 0
    for service, (method, path) in targets.items():
        client = world.clients[service]
        headers = {**world.token("SNN", SCOPES[service]), "Content-Type": "application/json"}
        bodies = [
            nested(10_000, "array"),
            nested(10_000, "object"),
            nested(900, "object"),
            b'"' + megabyte.encode() + b'"',
        ]
        for body in bodies:
            r = await client.request(method, path, content=body, headers=headers)
            assert 400 <= r.status_code < 500 and is_problem(r), (service, len(body), r.status_code, r.text[:300])
            assert len(r.content) < 20_000, "the refusal must not echo the input"
            refused += 1
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/v1/me", headers=world.token("SNN", SCOPES[service]))).status_code == 200
    # A megabyte in a bounded field is named; a list far beyond its bound too.
    huge = [
        ("registry", "POST", "/v1/cooperatives", cooperative_body(name=megabyte), "name"),
        ("registry", "POST", "/v1/cooperatives", cooperative_body(address=megabyte), "address"),
        (
            "notifications",
            "POST",
            "/v1/report-requests",
            {"title": megabyte, "agencies": ["SNN"], "due_on": "2025-12-31"},
            "title",
        ),
        (
            "notifications",
            "POST",
            "/v1/report-requests",
            {"title": "Báo cáo", "agencies": ["SNN"] * 100_000, "due_on": "2025-12-31"},
            "agencies",
        ),
    ]
    for service, method, path, json_body, field_name in huge:
        r = await world.clients[service].request(
            method, path, json=json_body, headers=world.token("SNN", SCOPES[service])
        )
        assert r.status_code == 422 and is_problem(r), (service, field_name, r.status_code, r.text[:300])
        assert field_name in {e["field"] for e in r.json()["errors"]}, r.text[:300]
        assert len(r.content) < 20_000, "the refusal must not echo the input"
        refused += 1
    report(
        f"[attack] deep/huge JSON: {refused} bodies (10,000-deep arrays/objects, 1 MB strings, 100k lists) → 4xx; "
        "services healthy"
    )


async def test_sse_connections_per_agency_are_bounded(world: World) -> None:
    hub_counts = world.notifications_runtime.extras

    async def free() -> bool:
        hub = hub_counts.get("stream_hub")
        return hub is None or hub._per_agency["UBND-926"] == 0

    await eventually(free, within=30, what="no open UBND-926 stream")
    headers = world.token("UBND-926", "notifications:read")
    async with (
        httpx.AsyncClient(base_url=world.notifications_url, timeout=30) as client,
        contextlib.AsyncExitStack() as streams,
    ):
        opened = []
        for _ in range(STREAM_LIMIT):
            r = await streams.enter_async_context(client.stream("GET", "/v1/stream", headers=headers))
            assert r.status_code == 200
            opened.append(r)
        async with client.stream("GET", "/v1/stream", headers=headers) as excess:
            await excess.aread()
            LOG.add("GET /v1/stream (excess)", excess)
            assert excess.status_code == 429 and is_problem(excess), excess.text
            assert excess.headers.get("retry-after"), excess.headers
        async with client.stream("GET", "/v1/stream", headers=world.token("UBND-916", "notifications:read")) as other:
            assert other.status_code == 200  # the limit is per agency
        await opened[0].aclose()

        async def again() -> bool:
            async with client.stream("GET", "/v1/stream", headers=headers) as r:
                if r.status_code != 200:
                    await r.aread()
                return r.status_code == 200

        await eventually(again, within=30, what="a slot given back when a stream closes")
    report(
        f"[attack] SSE: {STREAM_LIMIT} streams per agency (setting lowered for the test); one more → 429 + Retry-After"
    )


# -- hostile input anywhere, and what every answer showed ----------------------------------------------------


async def test_hostile_values_never_get_a_500(world: World) -> None:
    """NUL cannot be stored by PostgreSQL (a 500 before the fix); quotes are just text (a search finds nothing)."""
    nul, quote = "\u0000", "92' OR '1'='1"
    probes: list[tuple[str, str, str, dict[str, Any]]] = [
        ("registry", "GET", "/v1/cooperatives", {"params": {"q": nul}}),
        ("registry", "GET", "/v1/cooperatives", {"params": {"q": quote}}),
        ("registry", "GET", "/v1/cooperatives", {"params": {"unit": nul}}),
        ("registry", "GET", "/v1/cooperatives", {"params": {"unit": quote}}),
        ("registry", "GET", "/v1/cooperatives", {"params": {"cursor": "eyJzIjoibmFtZSJ9"}}),
        ("registry", "GET", "/v1/cooperatives/not-a-uuid", {}),
        ("registry", "GET", "/v1/org-units/%00", {}),
        ("registry", "GET", "/v1/agencies/" + quote, {}),
        ("registry", "GET", "/v1/report-submissions", {"params": {"agency": nul, "period": nul}}),
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(name="HTX " + nul)}),
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(address="Ấp " + nul)}),
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(unit_code=nul)}),
        (
            "registry",
            "POST",
            "/v1/cooperatives",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
        (
            "registry",
            "POST",
            "/v1/cooperatives",
            {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}},
        ),
        (
            "registry",
            "POST",
            "/v1/cooperatives/import",
            {"files": {"file": ("x.csv", b"\x00\x01\x02" * 100, "text/csv")}},
        ),
        (
            "registry",
            "POST",
            "/v1/cooperatives/import",
            {"files": {"file": ("x.xlsx", b"PK\x03\x04garbage", "application/zip")}},
        ),
        (
            "registry",
            "POST",
            "/v1/cooperatives/import",
            {"files": {"file": ("x.csv", sheet("1800000000", "HTX " + nul, "926"), "text/csv")}},
        ),
        ("registry", "DELETE", "/v1/cooperatives", {}),
        ("registry", "GET", "/v1/nowhere", {}),
        ("indicators", "GET", "/v1/progress", {"params": {"unit": nul}}),
        ("indicators", "GET", "/v1/progress", {"params": {"plan": quote}}),
        ("indicators", "GET", "/v1/indicators/%00/values", {}),
        ("indicators", "GET", "/v1/indicators/fair_or_better_share/values", {"params": {"from": nul}}),
        ("indicators", "GET", "/v1/targets/" + quote + "/progress", {}),
        ("indicators", "PUT", f"/v1/plans/{PLAN}", {"json": {"code": nul}}),
        ("notifications", "GET", "/v1/alerts", {"params": {"agency": nul}}),
        ("notifications", "GET", "/v1/alerts", {"params": {"unit": nul, "target": nul}}),
        ("notifications", "GET", "/v1/alerts", {"params": {"cursor": nul}}),
        ("notifications", "GET", "/v1/deadlines", {"params": {"agency": nul, "period": nul}}),
        ("notifications", "GET", "/v1/routing/" + quote, {}),
        ("notifications", "GET", "/v1/agencies/%00/channels", {}),
        (
            "notifications",
            "POST",
            "/v1/report-requests",
            {"json": {"title": "Báo cáo " + nul, "agencies": ["SNN"], "due_on": "2025-12-31"}},
        ),
        (
            "notifications",
            "POST",
            "/v1/report-requests",
            {"json": {"title": "Báo cáo", "agencies": [nul], "due_on": "2025-12-31"}},
        ),
        (
            "notifications",
            "PUT",
            f"/v1/routing/{ROUTED_TARGET}",
            {"json": {"overrides": [{"lead_agency": nul}]}, "headers": {"If-Match": '"x"'}},
        ),
        (
            "notifications",
            "PUT",
            "/v1/agencies/SNN/channels",
            {"json": {"channels": [{"kind": "email", "address": "a@b" + nul}]}, "headers": {"If-Match": '"x"'}},
        ),
    ]
    bad: list[str] = []
    for service, method, path, kwargs in probes:
        headers = {**world.token("SNN", SCOPES[service]), **kwargs.pop("headers", {})}
        r = await world.clients[service].request(method, path, headers=headers, **kwargs)
        if r.status_code >= 500 or (r.status_code >= 400 and not is_problem(r)):
            bad.append(f"{service} {method} {path!r} {kwargs.get('params', '')}: {r.status_code} {r.text[:200]}")
    report(f"[attack] hostile values (NUL bytes, quotes, bad JSON/UTF-8/files/cursors): {len(probes)} probes, no 5xx")
    assert not bad, "\n".join(bad)


async def test_no_response_contained_a_stack_trace_or_sql(world: World) -> None:
    """Runs last: every body the module received (matrix, tokens, limits, probes) is checked."""
    leaks, errors = LOG.leaks(), LOG.server_errors()
    report(
        f"[attack] responses checked for stack traces/SQL: {len(LOG.seen)}; leaks {len(leaks)}; 5xx {len(errors)}; "
        f"statuses {dict(sorted(LOG.statuses.items()))}"
    )
    assert LOG.seen
    assert not leaks, leaks[:10]
    assert not errors, errors[:10]
