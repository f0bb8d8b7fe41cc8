"""Async database plumbing: one engine per process, one PostgreSQL schema per service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import MetaData, event, inspect
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Mapper
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util.concurrency import greenlet_spawn

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
    and new prepared statements — measured, 72 such connections in 5 s at 64 concurrent status reports, CPU
    the two-core machine then lacks for the requests themselves (docs/performance.md, fix 24)."""
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


@dataclass(frozen=True)
class DriverStatement:
    """A Core statement compiled once to asyncpg's own SQL (`$n` placeholders, typed casts), run on the driver.

    For the few hot statements where SQLAlchemy's per-execution work (execution context, parameter processing,
    result metadata, the ORM) costs several times what PostgreSQL spends: the statement is still written and
    typed with Core against the models, but executed by asyncpg with its prepared-statement cache. The caller
    passes values as the driver takes them: JSON columns as JSON text (the engine's codecs, set on every pooled
    connection, expect text), enums by their code.
    """

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]  # values bound in the statement itself (e.g. a LIMIT)

    @staticmethod
    def of(statement: ClauseElement) -> DriverStatement:
        compiled = cast(SQLCompiler, statement.compile(dialect=_DRIVER_DIALECT))
        fixed = {k: v for k, v in compiled.params.items() if v is not None}
        return DriverStatement(compiled.string, tuple(compiled.positiontup or ()), fixed)

    def args(self, params: Mapping[str, Any]) -> Sequence[Any]:
        return [params[name] if name in params else self.fixed[name] for name in self.names]

    async def fetch(self, conn: asyncpg.Connection, params: Mapping[str, Any]) -> list[asyncpg.Record]:
        return await conn.fetch(self.sql, *self.args(params))

    async def fetchrow(self, conn: asyncpg.Connection, params: Mapping[str, Any]) -> asyncpg.Record | None:
        return await conn.fetchrow(self.sql, *self.args(params))


_DRIVER_DIALECT = asyncpg_dialect()

_M = TypeVar("_M")


def detached(model: type[_M], values: Mapping[str, Any]) -> _M:
    """`values` read through the attributes of a `model` row, without making an ORM instance.

    For rows on a hot path that are only read (by renderers and event builders) and never join a session: an
    ORM instance's bookkeeping (instance state, an attribute event per column) cost more than the rest of a
    status report's own Python work (docs/performance.md, fix 24). Every mapped column reads as None unless
    given, as on a transient instance; unlike one, it has no identity and no relationships.
    """
    row = _NONE_ROWS.get(model) or _NONE_ROWS.setdefault(model, _none_row(model))
    if not values.keys() <= row.keys():  # as the model's constructor would: a name that is not a column is a bug
        raise TypeError(f"{model.__name__} has no column(s) {sorted(values.keys() - row.keys())}")
    return cast(_M, SimpleNamespace(**{**row, **values}))


_NONE_ROWS: dict[type, dict[str, None]] = {}


def _none_row(model: type) -> dict[str, None]:
    mapper: Mapper[Any] = inspect(model)
    return dict.fromkeys(attribute.key for attribute in mapper.column_attrs)


@contextlib.asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection as asyncpg's own, outside any SQLAlchemy transaction: each statement on it commits on
    its own (PostgreSQL's implicit transaction), so a use case that fits one statement needs no BEGIN/COMMIT. The
    pool's checkout check and reset on return apply as for every other connection.

    The connection is taken straight from the pool (`AsyncEngine.raw_connection`), not through an
    `AsyncConnection`: nothing here uses SQLAlchemy's connection, and building one, and its sync `Connection`
    inside, then closing both, was ~10 % of the registry's CPU per status report (A/B in docs/performance.md,
    fix 33). The pool, its size and timeout (a `PoolTimeout` is the same 503), the checkout check and the
    reset on return are the same as for every other connection.

    It goes back to the pool by a plain `close()`, never `AsyncConnection.__aexit__`'s, which runs the close in
    a task of its own behind `asyncio.shield` (two turns of the event loop per request; when the loop is busy
    each waits behind every other ready request: at 200 reports/s the release was once the largest share of a
    report's time in the registry). Nothing can abandon the close halfway: no transaction was begun on this
    connection, so returning it does no I/O and finishes without giving the loop (and so a cancellation) a
    chance to interrupt it. The exception is an overflow connection that finds the pool full: it is closed
    (asyncpg says goodbye to the server), and a cancellation there only aborts that connection, which the pool
    has already written off. Both run in SQLAlchemy's greenlet, as its async connection would run them, since a
    close or an invalidation may have to await the driver."""
    try:
        pooled = await engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as exc:
        # What `engine.connect()` raises for the same failure: SQLAlchemy's own exception (OperationalError,
        # InterfaceError…), which the 503 handler and the consumers classify (`database_unavailable`).
        raise DBAPIError.instance(None, None, exc, engine.dialect.loaded_dbapi.Error) from exc
    try:
        yield pooled.driver_connection
    except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
        # The connection broke under the driver (closed, or left mid-operation by a cancelled statement):
        # SQLAlchemy did not see it, so it must not go back to the pool; to the caller it is an outage.
        await greenlet_spawn(pooled.invalidate, exc)
        raise ConnectionError(f"database connection lost: {exc}") from exc
    finally:
        await greenlet_spawn(pooled.close)


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
