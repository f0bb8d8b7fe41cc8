"""Async database plumbing: one engine per process, one PostgreSQL schema per service."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from shared import jsoncodec

log = logging.getLogger(__name__)

# Class 08 (connection exception) and 57P01-03 (admin/crash shutdown, "the database system is starting up /
# shutting down"): the server or the way to it is away, the statement itself is fine.
UNAVAILABLE_SQLSTATES = frozenset({"08000", "08001", "08003", "08004", "08006", "57P01", "57P02", "57P03"})


def sqlstate_of(exc: BaseException) -> str | None:
    """The PostgreSQL error code behind `exc` (SQLAlchemy-wrapped or raw asyncpg), if any."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def database_unavailable(exc: BaseException) -> bool:
    """True when PostgreSQL is down, restarting or unreachable: retry later, nothing is wrong with the work."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if sqlstate_of(exc) in UNAVAILABLE_SQLSTATES:
        return True
    # asyncpg raises plain OS errors while connecting (refused TCP, a unix socket gone during a restart).
    return isinstance(exc, OperationalError | InterfaceError | ConnectionError | OSError | TimeoutError)


# Stable constraint names, so Alembic autogenerate and hand-written migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def async_url(url: str) -> str:
    """Accept any PostgreSQL URL (``postgresql://``, ``postgres://``, ``+psycopg``) and use asyncpg."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() != "postgresql":
        raise ValueError("DATABASE_URL must be a PostgreSQL URL")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """The same URL in the plain form asyncpg.connect() takes (used for LISTEN, which needs a raw connection)."""
    return async_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 0,
    pool_timeout: float = 10.0,
    application_name: str = "htx-monitor",
) -> AsyncEngine:
    """A pool of `pool_size` long-lived connections; a request that finds them all busy waits for one (at most
    `pool_timeout` seconds, then 503) rather than opening another. Overflow connections are opened and closed
    as the demand swings around the pool's size: each costs a backend fork, asyncpg's start-up and codec setup,
    and new prepared statements, CPU a small machine then lacks for the requests themselves."""
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": application_name}, "timeout": 10},
        json_serializer=jsoncodec.dumps_text,  # JSON columns, both ways (shared.jsoncodec says why)
        json_deserializer=jsoncodec.loads,
    )
    # A PostgreSQL restart leaves dead connections in the pool: each is replaced when it is checked out.
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Checkout hook in place of `pool_pre_ping`, which costs three round trips (BEGIN, a ping, ROLLBACK) on every
    checkout — a quarter of a status report's. asyncpg reads its socket while the connection is idle in the pool,
    so the server's goodbye on a restart or a terminated backend (the FATAL 57P01 message, then EOF) has already
    closed it by the time it is checked out; the pool then connects afresh (DisconnectionError → new connection).
    A connection that breaks during a statement is invalidated by SQLAlchemy as before, and the request gets 503.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("connection closed by the server while idle in the pool")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def listen_forever(dsn: str, channel: str, wake: asyncio.Event, *, what: str) -> None:
    """Hold a LISTEN connection on `channel` and set `wake` on every NOTIFY, until cancelled.

    Reconnects after a database restart, and sets `wake` after each (re)connect so the caller catches up on
    whatever was committed while nobody listened. Callers keep a polling safety net for the gaps.
    """
    failures = 0  # in a row: the first is logged with its traceback, the retries in one line each
    while True:
        conn: asyncpg.Connection | None = None
        try:
            lost = asyncio.Event()
            conn = await asyncpg.connect(dsn, timeout=10)
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            await conn.add_listener(channel, lambda *_: wake.set())
            failures = 0
            wake.set()
            await lost.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            if failures == 1:
                log.info("%s: LISTEN connection lost; reconnecting", what, exc_info=True)
            else:
                log.info("%s: LISTEN reconnect %d failed (%r); retrying", what, failures, exc)
        finally:
            if conn is not None and not conn.is_closed():
                conn.terminate()  # no await: this also runs while the task is being cancelled
        await asyncio.sleep(1.0)
