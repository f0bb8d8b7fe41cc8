"""Shared fixtures. Infrastructure is started only when a test asks for it (unit tests need none)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.infra.stack import Stack, start_stack
from shared.settings import AuthSettings

TEST_JWT_SECRET = "test-secret-for-htx-monitor-only-0123456789abcdef-0123456789abcdef-xyz"


@pytest.fixture(scope="session", autouse=True)
def _test_auth_env() -> Iterator[None]:
    """Tests sign tokens with their own key, never the developer's `.local/jwt-secret`."""
    previous = os.environ.get("HTX_JWT_SECRET")
    os.environ["HTX_JWT_SECRET"] = TEST_JWT_SECRET
    yield
    if previous is None:
        os.environ.pop("HTX_JWT_SECRET", None)
    else:
        os.environ["HTX_JWT_SECRET"] = previous


RATE_LIMIT_ENV = {"REGISTRY_WRITE_LIMIT_PER_MINUTE": "0", "NOTIFICATIONS_NOTIFY_LIMIT_PER_MINUTE": "0"}
"""The suites write hundreds of times a minute as one agency; the limits are off unless a test sets them
(tests/integration/test_rate_limits.py passes them to the settings it builds)."""


@pytest.fixture(scope="session", autouse=True)
def _no_rate_limits_env() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in RATE_LIMIT_ENV}
    os.environ.update(RATE_LIMIT_ENV)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def auth_settings() -> AuthSettings:
    return AuthSettings()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Real PostgreSQL and a real Kafka broker (Apache Kafka 4.x under CI), started by the harness."""
    started = start_stack(persistent=False)
    _STACK_REPORT.extend(f"[stack] {line}" for line in started.describe().splitlines())
    _STACK_REPORT.extend(f"[stack] {line}" for line in started.kafka_version_lines())
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def migrated_stack(stack: Stack) -> Stack:
    from shared.migrations import upgrade_all

    upgrade_all(stack.database_url)
    return stack


@pytest.fixture(scope="session")
async def engine(stack: Stack) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(stack.database_url, pool_size=5)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def service_env(migrated_stack: Stack) -> Iterator[Stack]:
    """Point the services' settings at the harness's PostgreSQL and Kafka."""
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "LOG_JSON")}
    os.environ.update(migrated_stack.env())
    os.environ["LOG_JSON"] = "false"
    yield migrated_stack
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_STACK_REPORT: list[str] = []
_FIGURES: list[str] = []


def report(line: str) -> None:
    """A figure for the end of the test output (events, kills, duplicates, requests fuzzed…), e.g. ``[faults] …``."""
    _FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which PostgreSQL and Kafka the run used (CI logs must show the Apache Kafka version), then the figures."""
    for line in _STACK_REPORT:
        terminalreporter.write_line(line)
    if _FIGURES:
        terminalreporter.section("figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


DatabaseFactory = Callable[[], Awaitable[str]]


@pytest.fixture
async def make_database(migrated_stack: Stack) -> AsyncIterator[DatabaseFactory]:
    """Creates fresh, migrated databases on the harness's server; drops them after the test."""
    import asyncio
    import uuid

    import asyncpg
    from sqlalchemy.engine import make_url

    from shared.migrations import upgrade_all

    created: list[str] = []
    admin = await asyncpg.connect(migrated_stack.database_url)

    async def create() -> str:
        name = f"iso_{uuid.uuid4().hex[:10]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = make_url(migrated_stack.database_url).set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(upgrade_all, url)  # Alembic runs its own event loop
        return url

    try:
        yield create
    finally:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def isolated_env(
    migrated_stack: Stack, make_database: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """A fresh, migrated database and a private topic namespace: for tests that need a system of their own."""
    import uuid

    env = {
        "DATABASE_URL": await make_database(),
        "KAFKA_BOOTSTRAP_SERVERS": migrated_stack.bootstrap_servers,
        "HTX_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
        "LOG_JSON": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
