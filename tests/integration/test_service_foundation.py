"""Each service starts on the migrated schema, exposes its operational endpoints and enforces auth."""

from __future__ import annotations

import gc
import importlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from shared.auth import mint_token
from shared.infra.stack import Stack
from shared.migrations import SchemaNotCurrent, check_all
from shared.settings import AuthSettings
from tests.integration.apps import running
from tests.integration.registry_support import status_body

pytestmark = pytest.mark.integration

SERVICES = ["registry", "indicators", "notifications"]


def create_app(service: str) -> FastAPI:
    module = importlib.import_module(f"services.{service}.app")
    app: FastAPI = module.create_app()
    return app


@pytest.fixture(params=SERVICES)
async def client(request: pytest.FixtureRequest, service_env: Stack) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    app = create_app(request.param)
    async with running(app) as http:
        if request.param == "notifications":  # its agencies come from the registry's events: the callers' here
            await _known_agencies(app, "SNN", "UBND-916")
        yield request.param, http


async def _known_agencies(app: FastAPI, *codes: str) -> None:
    from sqlalchemy.dialects.postgresql import insert

    from services.notifications.db.models import Agency

    rows = [
        {"code": c, "name": c, "kind": "department", "jurisdiction_unit_code": "92", "active": True, "version": 1}
        for c in codes
    ]
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(insert(Agency).values(rows).on_conflict_do_nothing(index_elements=["code"]))


def test_models_and_migrations_do_not_drift(migrated_stack: Stack) -> None:
    check_all(migrated_stack.database_url)  # `alembic check` for every service schema; raises on drift


async def test_a_service_refuses_to_start_on_a_schema_that_is_not_current(
    service_env: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"unmigrated_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(service_env.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(service_env.database_url).set(database=name).render_as_string(hide_password=False)
        monkeypatch.setenv("DATABASE_URL", url)
        with pytest.raises(SchemaNotCurrent, match="make migrate"):
            async with running(create_app("registry")):
                pass
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_health_readiness_metrics_and_asyncapi(client: tuple[str, httpx.AsyncClient]) -> None:
    service, http = client
    assert (await http.get("/healthz")).json() == {"status": "ok", "service": service}
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": True, "kafka": True}
    metrics = await http.get("/metrics")
    assert "htx_http_request_seconds" in metrics.text
    asyncapi = (await http.get("/asyncapi.json")).json()
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["channels"], "every service publishes or consumes at least one topic"
    for message in asyncapi["components"]["messages"].values():
        assert message["payload"]["$ref"].removeprefix("#/components/schemas/") in asyncapi["components"]["schemas"]
    openapi = (await http.get("/openapi.json")).json()
    assert openapi["openapi"].startswith("3.1")
    # Every /v1 operation says it needs the bearer token (the middleware checks it for the whole prefix), and
    # no operations endpoint does.
    assert openapi["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "JWT bearer token (`make token` mints one locally)",
    }
    operations = [(path, op) for path, item in openapi["paths"].items() for op in item.values()]
    assert any(path.startswith("/v1/") for path, _ in operations)
    for path, operation in operations:
        expected = [{"HTTPBearer": []}] if path.startswith("/v1/") else None
        assert operation.get("security") == expected, path
        if expected:
            assert {"401", "403"} <= operation["responses"].keys(), path


async def test_responses_carry_request_and_trace_ids(client: tuple[str, httpx.AsyncClient]) -> None:
    _, http = client
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = await http.get("/healthz", headers={"traceparent": parent, "x-request-id": "req-42"})
    # The server's own id, always (the audit trail keys on it); the client's is kept beside it.
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.headers["x-client-request-id"] == "req-42"
    assert response.headers["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    minted = [(await http.get("/healthz")).headers for _ in range(2)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", h["x-request-id"]) for h in minted)
    assert minted[0]["x-request-id"] != minted[1]["x-request-id"]
    assert minted[0]["traceparent"].split("-")[1] != minted[1]["traceparent"].split("-")[1]


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    assert "Traceback" not in response.text
    return body


def _claims(settings: AuthSettings, **overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "sub": "tester",
        "agency": "SNN",
        "scope": "registry:read indicators:read notifications:read",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "exp": datetime.now(UTC) + timedelta(hours=1),
    }
    claims.update(overrides)
    return claims


async def test_a_valid_token_identifies_the_agency(
    client: tuple[str, httpx.AsyncClient], auth_settings: AuthSettings
) -> None:
    service, http = client
    token = mint_token(auth_settings, agency="UBND-916", scopes=f"{service}:read")
    response = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["agency"] == "UBND-916"


async def test_no_token_is_401(client: tuple[str, httpx.AsyncClient]) -> None:
    _, http = client
    response = await http.get("/v1/me")
    _assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def _unsigned(claims: dict[str, object]) -> str:
    return jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda s: jwt.encode(_claims(s), "not-the-key-" * 4, algorithm="HS256"), id="bad-signature"),
        pytest.param(lambda s: _unsigned(_claims(s)), id="alg-none"),
        pytest.param(
            lambda s: jwt.encode(_claims(s, exp=datetime.now(UTC) - timedelta(minutes=5)), s.signing_secret()),
            id="expired",
        ),
        pytest.param(lambda s: jwt.encode(_claims(s, aud="someone-else"), s.signing_secret()), id="wrong-audience"),
        pytest.param(
            lambda s: jwt.encode(_claims(s, iss="https://evil.example"), s.signing_secret()), id="wrong-issuer"
        ),
        pytest.param(
            lambda s: (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"))(
                jwt.encode(_claims(s), s.signing_secret())
            ),
            id="tampered",
        ),
        pytest.param(lambda s: "not-a-jwt", id="garbage"),
    ],
)
async def test_invalid_tokens_are_401_problems(
    client: tuple[str, httpx.AsyncClient], auth_settings: AuthSettings, make_token: object
) -> None:
    _, http = client
    token = make_token(auth_settings)  # type: ignore[operator]
    response = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    _assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_missing_scope_is_403_insufficient_scope(
    client: tuple[str, httpx.AsyncClient], auth_settings: AuthSettings
) -> None:
    service, http = client
    token = mint_token(auth_settings, agency="SNN", scopes="something:else")
    response = await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    body = _assert_problem(response, 403)
    assert body["required_scope"] == f"{service}:read"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_unknown_routes_and_oversized_bodies_are_problems(
    client: tuple[str, httpx.AsyncClient], auth_settings: AuthSettings
) -> None:
    service, http = client
    token = {"Authorization": f"Bearer {mint_token(auth_settings, agency='SNN', scopes=f'{service}:read')}"}
    _assert_problem(await http.get("/v1/nothing-here", headers=token), 404)
    _assert_problem(await http.post("/v1/me", content=b"x" * (2 * 1024 * 1024), headers=token), 413)
    # Authentication comes first (shared.auth.first): without a token, neither is revealed — only 401.
    _assert_problem(await http.get("/v1/nothing-here"), 401)
    _assert_problem(await http.post("/v1/me", content=b"x" * (2 * 1024 * 1024)), 401)


async def test_a_request_that_finds_every_pooled_connection_busy_is_503_then_served(
    service_env: Stack, auth_settings: AuthSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool opens no connection beyond its size (shared.db.create_engine): a request that waits longer than the
    pool's timeout is answered 503 with Retry-After (the service is busy, nothing was written), not 500."""
    monkeypatch.setenv("REGISTRY_DB_POOL_SIZE", "1")
    monkeypatch.setenv("REGISTRY_DB_POOL_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("REGISTRY_RUN_WORKERS", "false")  # the relay would share the one connection
    app = create_app("registry")
    headers = {"Authorization": f"Bearer {mint_token(auth_settings, agency='SNN', scopes='registry:read')}"}
    async with running(app) as http:
        engine = app.state.runtime.engine
        async with engine.connect() as held:  # the pool's only connection, busy
            await held.exec_driver_sql("SELECT 1")
            busy = await http.get("/v1/cooperatives", headers=headers)
        _assert_problem(busy, 503)
        assert busy.headers["retry-after"] == "2"
        assert (await http.get("/v1/cooperatives", headers=headers)).status_code == 200


async def test_a_status_report_that_finds_every_pooled_connection_busy_is_503_then_served(
    service_env: Stack, auth_settings: AuthSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status report, the busiest write, meets the same pool: the same size, the same timeout, the same 503;
    and the connection it used goes back to the pool afterwards."""
    monkeypatch.setenv("REGISTRY_DB_POOL_SIZE", "1")
    monkeypatch.setenv("REGISTRY_DB_POOL_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setenv("REGISTRY_RUN_WORKERS", "false")
    app = create_app("registry")
    token = mint_token(auth_settings, agency="SNN", scopes="registry:read registry:write")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/v1/cooperatives/{uuid.uuid4()}/status-reports"
    async with running(app) as http:
        engine = app.state.runtime.engine
        async with engine.connect() as held:
            await held.exec_driver_sql("SELECT 1")
            busy = await http.post(url, json=status_body(), headers=headers)
        _assert_problem(busy, 503)
        assert busy.headers["retry-after"] == "2"
        for _ in range(3):  # served each time: the one connection came back to the pool after every report
            _assert_problem(await http.post(url, json=status_body(), headers=headers), 404)
        assert engine.sync_engine.pool.checkedout() == 0


async def test_start_up_objects_are_frozen_while_the_service_runs_and_released_after(service_env: Stack) -> None:
    """shared.service tunes the collector once a service has started: what start-up built is out of the full
    collections' reach and the youngest generation is collected less often; stopping gives it back."""
    default = gc.get_threshold()[0]
    async with running(create_app("indicators")):
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] == 5_000
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold()[0] == default
