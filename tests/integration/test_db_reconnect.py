"""The engine survives a PostgreSQL restart without `pool_pre_ping`: dead pooled connections are replaced at checkout.

`shared.db.create_engine` checks, when a connection leaves the pool, whether the server already closed it (asyncpg
reads the FATAL message and EOF while the connection is idle). This test restarts a PostgreSQL of its own while the
pool holds several open connections and expects every later use of the engine to succeed at the first attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.infra.postgres import PostgresInstance, start_postgres

pytestmark = pytest.mark.integration

POOL = 4


@pytest.fixture
async def own_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PostgresInstance]:
    monkeypatch.delenv("DATABASE_URL", raising=False)  # a server of its own, which it may restart
    instance = await asyncio.to_thread(start_postgres, tmp_path / "pg", throwaway=True)
    try:
        yield instance
    finally:
        await asyncio.to_thread(instance.stop)


async def _backends(engine: AsyncEngine, n: int) -> set[int]:
    """Use `n` pooled connections at once; the server process ids that answered."""

    async def one() -> int:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await asyncio.sleep(0.05)  # hold it, so the others check out their own
            return int(pid)

    return set(await asyncio.gather(*(one() for _ in range(n))))


async def test_pooled_connections_are_replaced_after_a_restart(own_postgres: PostgresInstance) -> None:
    engine = create_engine(own_postgres.url, pool_size=POOL)
    try:
        before = await _backends(engine, POOL)
        assert len(before) == POOL
        assert await _backends(engine, POOL) == before  # reused from the pool, not reconnected

        await asyncio.to_thread(own_postgres.restart)
        await asyncio.sleep(0.2)  # the event loop reads each connection's goodbye meanwhile

        after = await _backends(engine, POOL)  # would raise on a dead connection
        assert len(after) == POOL and not after & before
        assert await _backends(engine, POOL) == after
    finally:
        await engine.dispose()


async def test_a_connection_terminated_by_the_server_is_replaced(own_postgres: PostgresInstance) -> None:
    engine = create_engine(own_postgres.url, pool_size=1)
    try:
        [victim] = await _backends(engine, 1)
        admin = create_engine(own_postgres.url, pool_size=1)
        try:
            async with admin.connect() as conn:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        finally:
            await admin.dispose()
        await asyncio.sleep(0.2)
        [replacement] = await _backends(engine, 1)
        assert replacement != victim
    finally:
        await engine.dispose()
