"""Helpers for the attack suite: the jurisdiction model as documented, forged tokens, the write/read endpoints
each app really exposes, and a log of every response the suite received (checked for leaks at the end).

The model here is written from docs/decisions.md and the seeded reference data, not from the services' access
code, so the matrix checks the services against the documented rules rather than against themselves.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from services.registry.domain.reference import AGENCIES, CITY, UNITS
from shared.settings import AuthSettings

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

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
