"""The registry service: its spec, and the app factory uvicorn and the tests call."""

from __future__ import annotations

from fastapi import FastAPI

from services.registry.api import routers
from services.registry.db.models import Agency, inbox, metadata, outbox
from services.registry.events.handlers import CONSUMES, handler_table
from services.registry.settings import RegistrySettings
from services.registry.workers.startup import prepare
from shared.auth.agencies import install_agency_directory
from shared.clock import Clock
from shared.events import contracts
from shared.service import ServiceSpec, build_app
from shared.settings import ServiceSettings


def _body_limits(settings: ServiceSettings) -> dict[str, int]:
    """The import takes files up to `import_max_bytes` (plus room for the multipart envelope)."""
    assert isinstance(settings, RegistrySettings)
    return {"/v1/cooperatives/import": settings.import_max_bytes + 64 * 1024}


SPEC = ServiceSpec(
    name="registry",
    title="HTX Monitor — Registry (Sổ đăng ký HTX NN)",
    description=(
        "System of record for agricultural cooperatives [hợp tác xã nông nghiệp], their status "
        "reports, administrative units, agencies and report submissions (kế hoạch 219/KH-UBND, TP. "
        "Cần Thơ)."
    ),
    metadata=metadata,
    outbox_table=outbox,
    inbox_table=inbox,
    publishes=(contracts.CooperativeStatusV1, contracts.OrgUnitV1, contracts.AgencyV1, contracts.ReportSubmissionV1),
    consumes=CONSUMES,
    handler_table=handler_table,
    routers=routers,
    on_startup=[prepare],
    body_limits=_body_limits,
)


def create_app(*, settings: RegistrySettings | None = None, clock: Clock | None = None) -> FastAPI:
    app = build_app(SPEC, RegistrySettings, settings=settings, clock=clock)
    install_agency_directory(app, Agency.__table__)  # a token's agency must be one of ours, and active
    return app
