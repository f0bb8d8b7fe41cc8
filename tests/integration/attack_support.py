"""What the attack suites share: the world they attack (the three services in one environment of their own,
with one target object per jurisdiction and per agency), the jurisdiction model as documented, forged tokens,
the write/read endpoints each app really exposes, and a log of every response the suites received (checked for
leaks at the end).

The model here is written from docs/decisions.md and the seeded reference data, not from the services' access
code, so the matrix checks the services against the documented rules rather than against themselves.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from services.indicators.app import create_app as create_indicators
from services.indicators.settings import IndicatorsSettings
from services.notifications.app import create_app as create_notifications
from services.notifications.settings import NotificationsSettings
from services.registry.app import create_app as create_registry
from services.registry.domain.reference import AGENCIES, CITY, UNITS
from services.registry.settings import RegistrySettings
from shared.clock import FixedClock
from shared.infra.stack import Stack
from shared.service import Runtime
from shared.settings import AuthSettings
from tests.integration.alerts_support import fetch as sql
from tests.integration.alerts_support import own_environment, scalar
from tests.integration.apps import running
from tests.integration.kafka_helpers import eventually
from tests.integration.notifications_support import raise_alert, serve
from tests.integration.registry_support import TODAY, cooperative_body

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# -- the world's settings, the scopes the suites ask for, the objects they name -----------------------------

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


SAMPLE = {
    "registry": {"code": "926"},
    "indicators": {"code": PLAN, "target_id": f"{PLAN}:{ROUTED_TARGET}"},
    "notifications": {"code": "UBND-926", "target_code": ROUTED_TARGET},
}
SCOPES = {"registry": REGISTRY, "indicators": INDICATORS_ADMIN, "notifications": f"{NOTIFY} notifications:operator"}

# -- the jurisdiction model (docs/decisions.md "Registry": who writes the registry) --------------------------

AGENCY = {a.code: a for a in AGENCIES}
AGENCY_CODES = [a.code for a in AGENCIES]
PARENT = {u.code: u.parent_code for u in UNITS}
JURISDICTIONS = [u.code for u in UNITS]  # the city (city-level objects) and each district
REPORTING_AUTHORITY = "SNN"  # notifications' default NOTIFICATIONS_REPORTING_AUTHORITY (plan 219 V.8)


def within(root: str) -> set[str]:
    """`root` and every unit under it."""
    found = {root}
    grew = True
    while grew:
        more = {code for code, parent in PARENT.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


def home(agency: str) -> str:
    return AGENCY[agency].jurisdiction_unit_code


def registry_may_write(agency: str, units: set[str]) -> bool:
    """A registry keeper (SNN, the district People's Committees) inside its jurisdiction, for every unit touched."""
    seed = AGENCY[agency]
    return seed.writes_registry and units <= within(seed.jurisdiction_unit_code)


def elsewhere(agency: str, unit: str) -> str:
    """Where the move case tries to take a cooperative of `unit`: the agency's home, or another unit if that is it."""
    own = home(agency)
    if own != unit:
        return own
    return next(code for code in JURISDICTIONS if code not in (unit, CITY))


# -- endpoints ----------------------------------------------------------------------------------------------


def operations(app: FastAPI, *, writes: bool) -> list[str]:
    """Every `METHOD /v1/...` operation the app documents (writes: POST/PUT/PATCH/DELETE; else GET)."""
    found = set()
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/v1/"):
            for method in item:
                verb = method.upper()
                if (verb in WRITE_METHODS) if writes else verb == "GET":
                    found.add(f"{verb} {path}")
    return sorted(found)


def paged_operations(app: FastAPI) -> list[tuple[str, int]]:
    """GET operations with a `limit` query parameter, and the maximum their OpenAPI document declares."""
    found = []
    for path, item in app.openapi()["paths"].items():
        get = item.get("get")
        if not path.startswith("/v1/") or not get:
            continue
        for param in get.get("parameters", []):
            if param["name"] == "limit" and param["in"] == "query":
                found.append((path, int(param["schema"]["maximum"])))
    return sorted(found)


def fill_path(path: str, values: dict[str, str]) -> str:
    """`/v1/alerts/{alert_id}` with every `{name}` replaced (unknown names get a fresh UUID)."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), path)


# -- tokens -------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims(settings: AuthSettings, agency: str, scopes: str, /, **override: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "sub": f"{agency.lower()}-attacker",
        "agency": agency,
        "scope": scopes,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now - timedelta(seconds=5),
        "exp": now + timedelta(hours=1),
        "jti": uuid.uuid4().hex,
    }
    base.update(override)
    return {k: v for k, v in base.items() if v is not None}


def sign(settings: AuthSettings, payload: dict[str, Any], *, key: str | None = None) -> str:
    return jwt.encode(payload, key or settings.signing_secret(), algorithm="HS256")


def bad_tokens(settings: AuthSettings, agency: str, scopes: str) -> dict[str, str | None]:
    """Authorization header values that must each get 401 (None: no header at all)."""
    good = sign(settings, claims(settings, agency, scopes))
    head, body, signature = good.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    unsigned_claims = json.dumps(claims(settings, agency, scopes), default=lambda d: int(d.timestamp()))
    alg_none = _b64(b'{"alg":"none","typ":"JWT"}') + "." + _b64(unsigned_claims.encode()) + "."
    elevated = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    elevated["agency"], elevated["scope"] = "SNN", scopes + " notifications:operator indicators:admin"
    past = datetime.now(UTC) - timedelta(hours=2)
    return {
        "none": None,
        "empty bearer": "Bearer ",
        "not a jwt": "Bearer not-a-jwt",
        "basic scheme": "Basic " + _b64(b"SNN:secret"),
        "tampered signature": f"Bearer {head}.{body}.{flipped}",
        "tampered claims": f"Bearer {head}.{_b64(json.dumps(elevated).encode())}.{signature}",
        "alg=none": f"Bearer {alg_none}",
        "other key": "Bearer " + sign(settings, claims(settings, agency, scopes), key="x" * 64),
        "expired": "Bearer "
        + sign(settings, claims(settings, agency, scopes, iat=past, nbf=past, exp=past + timedelta(minutes=30))),
        "not yet valid": "Bearer "
        + sign(settings, claims(settings, agency, scopes, nbf=datetime.now(UTC) + timedelta(hours=1))),
        "wrong issuer": "Bearer " + sign(settings, claims(settings, agency, scopes, iss="https://evil.example")),
        "wrong audience": "Bearer " + sign(settings, claims(settings, agency, scopes, aud="another-system")),
        "no expiry": "Bearer " + sign(settings, claims(settings, agency, scopes, exp=None)),
        "no agency": "Bearer " + sign(settings, claims(settings, agency, scopes, agency=None)),
    }


def bearer(settings: AuthSettings, agency: str, scopes: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + sign(settings, claims(settings, agency, scopes))}


# -- what the suite saw -------------------------------------------------------------------------------------

LEAK = re.compile(
    r"(?i:traceback|sqlalchemy|asyncpg|psycopg|pydantic_core|site-packages)|File \"|\bline \d+, in\b|"
    r"\bSELECT\s|\bINSERT INTO\b|\bUPDATE \S+ SET\b|\bDELETE FROM\b|\bWHERE \S+ ?=|\$\d+::"
)


@dataclass
class ResponseLog:
    """Every response body the suite received, with its status (hooked onto each client)."""

    seen: list[tuple[str, int, str]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def hook(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        async def record(response: httpx.Response) -> None:
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                self.statuses[response.status_code] += 1  # an endless stream: its events are not errors
                return
            await response.aread()
            self.add(f"{response.request.method} {response.request.url.path}", response)

        client.event_hooks["response"].append(record)
        return client

    def add(self, what: str, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        self.seen.append((what, response.status_code, response.text))

    def leaks(self) -> list[tuple[str, int, str]]:
        found = []
        for what, status, text in self.seen:
            match = LEAK.search(text)
            if match:
                found.append((what, status, text[max(0, match.start() - 80) : match.end() + 80]))
        return found

    def server_errors(self) -> list[tuple[str, int]]:
        return [(what, status) for what, status, _ in self.seen if status >= 500]


def is_problem(response: httpx.Response) -> bool:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return False
    body = response.json()
    return isinstance(body, dict) and body.get("status") == response.status_code and "title" in body


LOG = ResponseLog()
"""One log for every attack module's world, so the suite that runs last checks what all of them received."""


# -- the world: three services, their reference data, one target object per jurisdiction ---------------------


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


def unique_name() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:12]
    return f"HTX Kiểm thử {tag}", tag


@pytest.fixture(scope="module", name="world")
async def attack_world(migrated_stack: Stack, auth_settings: AuthSettings) -> AsyncIterator[World]:
    """Each attack module's own world: the three services in-process in a fresh database with private topics.

    The registry seeds the agencies and units and publishes them; the indicators and notifications services build
    their projections from those events before any test runs.
    """
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


async def named(w: World, tag: str) -> int:
    r = await w.registry.get("/v1/cooperatives", params={"q": tag}, headers=w.token("SNN", REGISTRY))
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


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
