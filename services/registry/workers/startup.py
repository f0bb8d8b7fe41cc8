"""Start-up work of the registry: wire the use cases, keep the reference data seeded (and the demo, if asked)."""

from __future__ import annotations

import logging

from services.registry.api.dependencies import build_registry
from services.registry.domain.reference_data import seed_reference_data
from services.registry.seed.loader import seed_demo
from services.registry.settings import RegistrySettings
from shared.service import Runtime

log = logging.getLogger(__name__)


async def prepare(runtime: Runtime) -> None:
    registry = build_registry(runtime)
    runtime.extras["registry"] = registry
    changed = await seed_reference_data(runtime.sessionmaker, runtime.outbox, runtime.clock)
    if changed:
        log.info("reference data seeded", extra={"rows": changed})
    if isinstance(runtime.settings, RegistrySettings) and runtime.settings.seed_demo:
        # Only into an empty registry: a restart of `make run` keeps what is there, edits included.
        created = await seed_demo(
            runtime.sessionmaker, registry.cooperatives, registry.status_reports, today=runtime.clock.today()
        )
        if created:
            log.info("demo registry seeded", extra={"cooperatives": created})
