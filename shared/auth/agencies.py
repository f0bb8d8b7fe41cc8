"""The agency a token acts for must be one this service knows and that is active.

A token is signed by the identity provider, but the agency it names is this system's data: each service keeps
its own copy of the agencies (`registry.agencies`, the `notifications.agencies` projection). The check runs
once per request after the signature (:func:`shared.auth.first.verified_principal`), so a made-up agency
(`UBND-999`) or one that has been deactivated is refused before routing, like any other invalid credential.
Answers are cached briefly in the process: a request costs no query most of the time, and a deactivation takes
effect within :attr:`CachedAgencyDirectory.ttl_seconds`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

from fastapi import FastAPI
from sqlalchemy import FromClause, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import database_unavailable
from shared.errors import ServiceUnavailable, Unauthorized


class AgencyDirectory(Protocol):
    async def is_active(self, code: str) -> bool: ...


class UnknownAgency(Unauthorized):
    """401 `invalid_token`: the token verifies, but the agency it names is not a valid principal here."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Cơ quan '{code}' không tồn tại hoặc không còn hoạt động (unknown or inactive agency)")
        self.extra["agency"] = code
        # Header values are latin-1: the Vietnamese detail stays in the body, the header says it in ASCII.
        self.headers["WWW-Authenticate"] = (
            'Bearer error="invalid_token", error_description="unknown or inactive agency"'
        )


class TableAgencyDirectory:
    """Reads a service's own agencies table (any table with `code` and `active` columns)."""

    def __init__(self, table: FromClause, app: FastAPI) -> None:
        self._table = table
        self._app = app  # the sessionmaker is built by the lifespan, after the app

    async def is_active(self, code: str) -> bool:
        sessionmaker: async_sessionmaker[AsyncSession] = self._app.state.runtime.sessionmaker
        try:
            async with sessionmaker() as session:
                active = await session.scalar(select(self._table.c.active).where(self._table.c.code == code))
        except Exception as exc:
            if database_unavailable(exc):
                raise ServiceUnavailable("The agency directory is unavailable; try again later") from exc
            raise
        return bool(active)


class CachedAgencyDirectory:
    """Remembers answers for a while: known agencies for `ttl_seconds`, refusals for `refusal_ttl_seconds`
    (shorter, so a newly added agency is let in soon), at most `max_entries` codes (least recently used go)."""

    def __init__(
        self,
        inner: AgencyDirectory,
        *,
        ttl_seconds: float = 30.0,
        refusal_ttl_seconds: float = 5.0,
        max_entries: int = 1024,
    ) -> None:
        self.inner = inner
        self.ttl_seconds = ttl_seconds
        self.refusal_ttl_seconds = refusal_ttl_seconds
        self.max_entries = max_entries
        self._answers: OrderedDict[str, tuple[bool, float]] = OrderedDict()  # code → (active, answered at)

    async def is_active(self, code: str) -> bool:
        now = time.monotonic()
        cached = self._answers.get(code)
        if cached is not None:
            active, at = cached
            if now - at < (self.ttl_seconds if active else self.refusal_ttl_seconds):
                self._answers.move_to_end(code)
                return active
        active = await self.inner.is_active(code)
        self._answers[code] = (active, time.monotonic())
        self._answers.move_to_end(code)
        while len(self._answers) > self.max_entries:
            self._answers.popitem(last=False)
        return active

    def forget(self) -> None:
        self._answers.clear()


def install_agency_directory(app: FastAPI, table: FromClause) -> CachedAgencyDirectory:
    """Check every API request's agency against `table` (the service's own agencies)."""
    directory = CachedAgencyDirectory(TableAgencyDirectory(table, app))
    app.state.agency_directory = directory
    return directory


async def check_agency(app: FastAPI, code: str) -> None:
    """Raise :class:`UnknownAgency` unless the app's directory knows `code` as active (no directory: no check)."""
    directory: AgencyDirectory | None = getattr(app.state, "agency_directory", None)
    if directory is not None and not await directory.is_active(code):
        raise UnknownAgency(code)
