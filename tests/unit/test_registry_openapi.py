"""The status-report route reads its own input (shared.request_input) and documents it by hand: the document must
be what FastAPI writes for the same operation declared with bound parameters, or clients generated from it
would drift from what the route accepts."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Body, FastAPI

from services.registry.api.cooperatives import PROBLEMS, IdempotencyHeader
from services.registry.api.schemas import StatusReportOut
from services.registry.app import create_app
from services.registry.domain.inputs import StatusReportCreate
from services.registry.settings import RegistrySettings
from shared.openapi import add_problem_responses

PATH = "/v1/cooperatives/{cooperative_id}/status-reports"


def _declared() -> dict[str, Any]:
    """The same operation, declared the usual way (FastAPI binds and documents every parameter)."""
    app = FastAPI()

    @app.post(
        "/v1/cooperatives/{cooperative_id:uuid}/status-reports",
        status_code=201,
        response_model=StatusReportOut,
        summary="Báo cáo tình hình HTX (add a status report)",
        responses={404: {}, **PROBLEMS},
        tags=["cooperatives"],
    )
    async def create_status_report(  # noqa: RUF029 - documentation only, never served
        cooperative_id: uuid.UUID,
        data: StatusReportCreate = Body(...),
        idempotency_key: str | None = IdempotencyHeader,
    ) -> None:
        raise AssertionError("never called")

    return add_problem_responses(app.openapi())


def _served() -> dict[str, Any]:
    settings = RegistrySettings(database_url="postgresql+asyncpg://unused/db", kafka_bootstrap_servers="unused:9092")
    return create_app(settings=settings).openapi()


def test_the_hand_documented_operation_is_what_fastapi_would_write() -> None:
    declared, served = _declared(), _served()
    operation, expected = served["paths"][PATH]["post"], declared["paths"][PATH]["post"]
    expected["security"] = operation["security"]  # every /v1 operation, added for the whole prefix
    assert operation == expected
    for name, schema in declared["components"]["schemas"].items():  # every schema the operation refers to
        assert served["components"]["schemas"][name] == schema, name


def test_every_reference_in_the_document_resolves() -> None:
    document = _served()
    schemas = document["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    missing = {r for r in refs(document) if r.removeprefix("#/components/schemas/") not in schemas}
    assert missing == set()
