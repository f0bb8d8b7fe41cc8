"""Start-up work of the registry: wire the use cases, keep the reference data seeded (and the demo, if asked)."""

from __future__ import annotations

import logging

from services.registry.api.dependencies import build_registry
from services.registry.domain.reference_data import seed_reference_data
from shared.service import Runtime

log = logging.getLogger(__name__)


async def prepare(runtime: Runtime) -> None:
    runtime.extras["registry"] = build_registry(runtime)
    changed = await seed_reference_data(runtime.sessionmaker, runtime.outbox, runtime.clock)
    if changed:
        log.info("reference data seeded", extra={"rows": changed})
