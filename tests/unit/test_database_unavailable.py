"""Which database errors mean "retry later" (503 to a client, retry in a consumer) rather than "bad request"."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.db import database_unavailable
from shared.messaging.consumer import is_transient


def _wrapped(orig: Exception) -> DBAPIError:
    return DBAPIError.instance("SELECT 1", {}, orig, Exception)


def test_a_restarting_server_is_unavailable_not_an_error() -> None:
    shutting_down = asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")
    assert database_unavailable(shutting_down)
    assert database_unavailable(_wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")))
    assert database_unavailable(FileNotFoundError(2, "No such file or directory"))  # the unix socket is gone
    assert database_unavailable(ConnectionRefusedError())
    assert is_transient(_wrapped(shutting_down))  # a consumer waits instead of dead-lettering the event


def test_a_bad_statement_or_bug_is_not_unavailability() -> None:
    duplicate = IntegrityError("INSERT …", {}, asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not database_unavailable(duplicate)
    assert not database_unavailable(ValueError("bug"))
    assert not is_transient(duplicate)


def test_an_exhausted_pool_is_transient_for_a_consumer() -> None:
    """Every pooled connection busy for the pool's whole wait: the process is overloaded, the event is fine (a
    consumer retries it rather than dead-lettering it; the API answers 503, shared.errors)."""
    exhausted = PoolTimeout("QueuePool limit of size 10 overflow 0 reached, connection timed out")
    assert is_transient(exhausted)
    assert not database_unavailable(exhausted)  # the API's 503 for it says "busy", not "database unreachable"
