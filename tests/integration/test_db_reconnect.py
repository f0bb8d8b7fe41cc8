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

from shared.db import create_engine, database_unavailable, driver_connection
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


async def test_a_driver_connection_lost_mid_statement_is_an_outage_and_is_not_pooled_again(
    own_postgres: PostgresInstance,
) -> None:
    """`driver_connection` hands out asyncpg's own connection, which SQLAlchemy does not watch: when the server
    ends it during a statement the caller gets a `ConnectionError` (an outage: 503 in the API) and the dead
    connection is invalidated, so the next checkout gets a new one."""
    engine = create_engine(own_postgres.url, pool_size=1)
    admin = create_engine(own_postgres.url, pool_size=1)
    pids: list[int] = []

    async def a_statement_whose_backend_is_terminated() -> None:
        async with driver_connection(engine) as conn:
            pids.append(await conn.fetchval("SELECT pg_backend_pid()"))
            statement = asyncio.create_task(conn.fetchval("SELECT pg_sleep(5)"))
            await asyncio.sleep(0.3)
            async with admin.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
            await statement

    try:
        with pytest.raises(ConnectionError) as lost:
            await a_statement_whose_backend_is_terminated()
        assert database_unavailable(lost.value)
        async with driver_connection(engine) as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") != pids[0]
    finally:
        await admin.dispose()
        await engine.dispose()
