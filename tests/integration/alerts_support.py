"""Helpers for the notifications tests: the service in-process, events produced straight onto its topics,
and plain-SQL looks at what it recorded (independent of the service's own code)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from shared.auth import mint_token
from shared.clock import VIETNAM, FixedClock
from shared.events.contracts import (
    AgencyV1,
    EventPayload,
    ReportKind,
    ReportSubmissionV1,
    TargetStatusV1,
    payload_json,
)
from shared.events.envelope import CloudEvent, encode_data, to_headers
from shared.service import Runtime
from shared.settings import AuthSettings
from tests.integration.apps import running

DISTRICTS = ["916", "917", "918", "919", "923", "924", "925", "926", "927"]
DEPARTMENTS = ["SNN", "SKHDT", "STC", "SCT"]
AGENCY_KINDS: dict[str, str] = {
    **dict.fromkeys(DEPARTMENTS, "department"),
    "LMHTX": "alliance",
    "MTTQ": "front",
    **{f"UBND-{d}": "district_committee" for d in DISTRICTS},
}
REPORTING = [code for code, kind in AGENCY_KINDS.items() if kind in ("department", "district_committee")]
PLAN = "219/KH-UBND"
SOURCES = {"registry": "/htx-monitor/registry", "indicators": "/htx-monitor/indicators"}
OPERATOR = "notifications:read notifications:write notifications:operator"
AGENCY_SCOPES = "notifications:read notifications:write"


def at_vietnam(day: date, hour: int = 8) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=VIETNAM).astimezone(UTC)


def auth(agency: str, scopes: str = AGENCY_SCOPES) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(AuthSettings(), agency=agency, scopes=scopes)}"}


def agency_event(code: str, *, version: int = 1, active: bool = True) -> AgencyV1:
    unit = code.removeprefix("UBND-") if code.startswith("UBND-") else "92"
    return AgencyV1(
        code=code,
        name=f"Cơ quan {code}",
        kind=AGENCY_KINDS[code],
        jurisdiction_unit_code=unit,
        active=active,
        version=version,
    )


def submission(
    agency: str, kind: str, period: str, on: date, request_id: uuid.UUID | None = None
) -> ReportSubmissionV1:
    return ReportSubmissionV1(
        submission_id=uuid.uuid4(),
        agency_code=agency,
        kind=ReportKind(kind),
        period=period,
        reference=f"{uuid.uuid4().hex[:4]}/BC-{agency}",
        submitted_on=on,
        summary_text="Báo cáo kết quả thực hiện Kế hoạch 219/KH-UBND",
        request_id=request_id,
    )


def status(
    code: str,
    unit: str,
    old: str | None,
    new: str,
    version: int,
    *,
    lead: str,
    coordinating: list[str],
    current: str = "38.5",
    projection: str = "44.2",
) -> TargetStatusV1:
    return TargetStatusV1(
        plan_code=PLAN,
        target_id=f"{PLAN}:{code}",
        target_code=code,
        unit_code=unit,
        old_status=old,
        new_status=new,
        explanation=f"Chỉ tiêu {code}: {new}.",
        baseline=Decimal("20"),
        current=Decimal(current),
        target=Decimal("50"),
        projection=Decimal(projection),
        deadline=date(2025, 12, 31),
        lead_agency=lead,
        coordinating_agencies=coordinating,
        version=version,
        changed_at=datetime(2025, 7, 15, 1, 0, tzinfo=UTC),
    )


@dataclass
class Producer:
    """Produces payloads as the other services would: CloudEvents binary mode, keyed by aggregate."""

    bootstrap: str
    prefix: str
    producer: AIOKafkaProducer | None = None
    sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def send(self, payload: EventPayload, *, source: str = "registry", event_id: str | None = None) -> None:
        assert self.producer is not None
        event = CloudEvent(
            type=payload.event_type,
            source=SOURCES[source],
            data=payload_json(payload),
            id=event_id or str(uuid.uuid4()),
            subject=payload.key(),
        )
        record = (self.prefix + payload.topic, payload.key().encode(), encode_data(event.data), to_headers(event))
        self.sent.append(record)
        await self.producer.send_and_wait(record[0], key=record[1], value=record[2], headers=record[3])

    async def resend_all(self) -> None:
        """Deliver every record produced so far a second time (same CloudEvents id: a duplicate)."""
        assert self.producer is not None
        for topic, key, value, headers in list(self.sent):
            await self.producer.send_and_wait(topic, key=key, value=value, headers=headers)


@contextlib.asynccontextmanager
async def notifications(
    env: dict[str, str], clock: FixedClock, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime, Producer]]:
    """The service in-process with its real lifespan (relay, consumer) but, unless asked, no scheduler loop:
    tests call `run_once` themselves at the clock's time."""
    cfg = NotificationsSettings(**{"scheduler_enabled": False, **settings})
    app: FastAPI = create_app(settings=cfg, clock=clock)
    producer = Producer(env["KAFKA_BOOTSTRAP_SERVERS"], env["HTX_TOPIC_PREFIX"])
    await producer.start()
    try:
        async with running(app) as client:
            yield client, app.state.runtime, producer
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def second_runtime(clock: FixedClock) -> AsyncIterator[Runtime]:
    """Another replica on the same database: API and runtime only (its scheduler is driven by the test)."""
    cfg = NotificationsSettings(scheduler_enabled=False, run_workers=False)  # type: ignore[call-arg]
    app: FastAPI = create_app(settings=cfg, clock=clock)
    async with running(app):
        yield app.state.runtime


async def fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def scalar(database_url: str, sql: str, *args: Any) -> Any:
    rows = await fetch(database_url, sql, *args)
    return rows[0][0] if rows else None


@contextlib.asynccontextmanager
async def own_environment(database_url: str, bootstrap: str) -> AsyncIterator[dict[str, str]]:
    """What `isolated_env` gives one test, for a whole module: a fresh migrated database, a private topic prefix."""
    import asyncio

    import pytest
    from sqlalchemy.engine import make_url

    from shared.migrations import upgrade_all

    name = f"iso_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade_all, url)
    env = {
        "DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HTX_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
        "LOG_JSON": "false",
    }
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            yield env
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
