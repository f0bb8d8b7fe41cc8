"""The system under test: PostgreSQL + Kafka from shared.infra.stack, migrated, and the three services."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.procs import SERVICES, RssSampler, ServiceProcess, start_service, stop_service, wait_ready
from bench.workload import DISTRICTS, KafkaProbe, status_body
from shared.auth import mint_token
from shared.db import asyncpg_dsn
from shared.events import topics
from shared.infra.stack import Stack, start_stack
from shared.migrations import upgrade_all
from shared.settings import AuthSettings

ALL_SCOPES = (
    "registry:read registry:write indicators:read indicators:admin notifications:read notifications:write "
    "notifications:operator"
)
GROUPS = {
    "indicators": ("htx-indicators", [topics.COOPERATIVE_STATUS, topics.ORG_UNITS]),
    "notifications": ("htx-notifications", [topics.AGENCIES, topics.TARGET_STATUS, topics.REPORT_SUBMISSIONS]),
}


@dataclass
class System:
    stack: Stack
    workdir: Path
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    sampler: RssSampler | None = None
    token: str = ""
    plain: dict[str, list[str]] = field(default_factory=dict)  # district → cooperative ids (never model)
    toggles: dict[str, str] = field(default_factory=dict)  # district → the one model cooperative
    toggle_state: dict[str, bool] = field(default_factory=dict)  # district → its current is_model
    rng: random.Random = field(default_factory=lambda: random.Random(219))
    profile_dir: Path | None = None  # --profile: where the profiled repeats write their py-spy samples
    _probe: KafkaProbe | None = None

    @property
    def kafka(self) -> KafkaProbe:
        """The run's one long-lived Kafka client for offsets and lag (reconnects with a bounded wait)."""
        if self._probe is None:
            self._probe = KafkaProbe(self.bootstrap)
        return self._probe

    @property
    def database_url(self) -> str:
        return self.stack.database_url

    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap_servers

    def url(self, service: str) -> str:
        return self.procs[service].url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def lag(self, service: str) -> int:
        group, names = GROUPS[service]
        return await self.kafka.lag(group, names)

    async def wait_drained(self, timeout: float = 180.0) -> float | None:
        """Seconds until both consumer groups have no lag and no outbox holds an unpublished event (None: still
        busy after `timeout`). A relay still publishing a consumer's output would share the machine with
        whatever is measured next."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if await self._idle():
                # The indicators' own events must reach notifications too: check once more after a beat.
                await asyncio.sleep(0.5)
                if await self._idle():
                    return time.perf_counter() - start
            await asyncio.sleep(0.25)
        return None

    async def _idle(self) -> bool:
        if await self.lag("indicators") or await self.lag("notifications"):
            return False
        unpublished = " + ".join(
            f"(SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL)" for schema in SERVICES
        )
        return int(await self.sql(f"SELECT {unpublished}")) == 0

    async def wait_published(self, service: str, timeout: float = 10.0) -> bool:
        """Whether `service`'s outbox held no unpublished row (its relay had caught up) within `timeout` s."""
        deadline = time.perf_counter() + timeout
        query = f"SELECT count(*) FROM {service}.outbox WHERE published_at IS NULL"
        while int(await self.sql(query)):
            if time.perf_counter() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def settle(self, timeout: float = 180.0) -> float:
        """Before a measured scenario, as pgbench vacuums before its run: the consumers caught up, then
        `VACUUM (ANALYZE)` and a `CHECKPOINT`, so a scenario does not pay for the dead rows and dirty pages the
        one before it left (autovacuum and the checkpointer would otherwise run during it: after the write
        path's ~60,000 reports they put the end-to-end p99 at 0.93–1.05 s against 0.58 s measured alone).
        Returns the seconds it took."""
        started = time.perf_counter()
        await self.wait_drained(timeout=timeout)
        conn = await asyncpg.connect(asyncpg_dsn(self.database_url), command_timeout=timeout)
        try:
            await conn.execute("VACUUM (ANALYZE)")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
        return round(time.perf_counter() - started, 2)

    async def sql(self, query: str, *args: Any) -> Any:
        conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()


async def start_system(workdir: Path) -> System:
    stack = await asyncio.to_thread(start_stack, persistent=False)
    await asyncio.to_thread(upgrade_all, stack.database_url)
    secret = secrets.token_hex(32)
    os.environ["HTX_JWT_SECRET"] = secret  # for mint_token in this process
    env = {
        **stack.env(),
        "HTX_JWT_SECRET": secret,
        "REGISTRY_SEED_DEMO": "false",
        # The deadline scheduler is time-driven, not load-driven: off, so it adds no noise to the figures.
        "NOTIFICATIONS_SCHEDULER_ENABLED": "false",
        # The bench writes as one agency at hundreds of requests a second: the per-agency limits would cap the
        # figures at the limit, so they are off here (each check is one upsert; the bench measures the rest).
        "REGISTRY_WRITE_LIMIT_PER_MINUTE": "0",
        "NOTIFICATIONS_NOTIFY_LIMIT_PER_MINUTE": "0",
    }
    system = System(stack=stack, workdir=workdir)
    system.token = mint_token(AuthSettings(), agency="SNN", scopes=ALL_SCOPES)
    try:
        await _start_services(system, env, workdir)
    except BaseException:
        stop_system(system)  # a service that failed to start must not leave the others (or the stack) running
        raise
    return system


async def _start_services(system: System, env: dict[str, str], workdir: Path) -> None:
    system.procs["registry"] = start_service("registry", env, workdir)
    await wait_ready(system.procs["registry"])
    for name in SERVICES[1:]:
        system.procs[name] = start_service(name, env, workdir)
    for name in SERVICES[1:]:
        await wait_ready(system.procs[name])
    system.sampler = RssSampler(system.procs)
    system.sampler.start()
    # Reference data (units, agencies) reaches the projections of indicators and notifications.
    for _ in range(600):
        units = await system.sql("SELECT count(*) FROM indicators.org_units")
        agencies = await system.sql("SELECT count(*) FROM notifications.agencies")
        if units >= 10 and agencies >= 15:
            break
        await asyncio.sleep(0.2)
    else:
        raise RuntimeError("reference data did not reach indicators/notifications")


def stop_system(system: System) -> None:
    if system.sampler is not None:
        system.sampler.stop()
    for name in reversed(list(system.procs)):
        stop_service(system.procs[name])
    system.stack.stop()


_codes = iter(range(10**8))


def registration_code() -> str:
    return f"17{next(_codes):08d}"


async def seed_cooperatives(system: System, per_district: int) -> None:
    """`per_district` plain cooperatives and one model cooperative per district, each with a first report."""
    async with httpx.AsyncClient(base_url=system.url("registry"), headers=system.auth, timeout=60) as client:
        sem = asyncio.Semaphore(8)

        async def create(district: str, is_model: bool) -> str:
            async with sem:
                body = {
                    "registration_code": registration_code(),
                    "name": f"Hợp tác xã Nông nghiệp Bench {uuid.uuid4().hex[:6]}",
                    "unit_code": district,
                    "sector": "cultivation",
                    "legal_status": "active",
                }
                response = await client.post("/v1/cooperatives", json=body)
                response.raise_for_status()
                coop_id: str = response.json()["id"]
                report = await client.post(
                    f"/v1/cooperatives/{coop_id}/status-reports", json=status_body(system.rng, is_model=is_model)
                )
                report.raise_for_status()
                return coop_id

        for district in DISTRICTS:
            system.plain[district] = list(await asyncio.gather(*(create(district, False) for _ in range(per_district))))
            system.toggles[district] = await create(district, True)
            system.toggle_state[district] = True
