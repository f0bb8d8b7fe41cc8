"""Per-request access to the registry's use cases (built once at start-up and kept on the runtime)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.registry.db.models import rate_limits
from services.registry.domain.cooperatives import CooperativeService
from services.registry.domain.status_reports import StatusReportService
from services.registry.domain.submissions import SubmissionService
from services.registry.settings import RegistrySettings
from shared.ratelimit import RateLimiter, limited
from shared.service import Runtime, get_runtime
from shared.settings import ServiceSettings


@dataclass(frozen=True)
class Registry:
    runtime: Runtime
    cooperatives: CooperativeService
    status_reports: StatusReportService
    submissions: SubmissionService


def build_registry(runtime: Runtime) -> Registry:
    return Registry(
        runtime=runtime,
        cooperatives=CooperativeService(runtime.sessionmaker, runtime.outbox, runtime.clock),
        status_reports=StatusReportService(runtime.engine, runtime.sessionmaker, runtime.outbox, runtime.clock),
        submissions=SubmissionService(runtime.sessionmaker, runtime.outbox, runtime.clock),
    )


async def get_registry(request: Request) -> Registry:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop for a dict lookup.
    registry: Registry = get_runtime(request).extras["registry"]
    return registry


def _write_limit(settings: ServiceSettings) -> int:
    if not isinstance(settings, RegistrySettings):  # built by services.registry.app.create_app
        raise TypeError("the registry runs with RegistrySettings")
    return settings.write_limit_per_minute


WRITE = limited("registry:write", RateLimiter(rate_limits), "writes", _write_limit)
"""`registry:write`, counted against the agency's writes per minute (REGISTRY_WRITE_LIMIT_PER_MINUTE)."""
