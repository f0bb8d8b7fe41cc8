"""Each service's OpenAPI document is valid OpenAPI, and its examples can be sent as they are."""

from __future__ import annotations

import importlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from services.indicators.domain.plans import PlanDocument
from shared.clock import SystemClock

SERVICES = ["registry", "indicators", "notifications"]
SHIPPED_PLANS = Path(__file__).parents[2] / "services" / "indicators" / "plans"


def document(service: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # The document is built from the routes; no database or broker is contacted.
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://nobody@localhost/none")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9")
    app = importlib.import_module(f"services.{service}.app").create_app()
    openapi: dict[str, Any] = app.openapi()
    return openapi


@pytest.mark.parametrize("service", SERVICES)
def test_the_openapi_document_is_valid(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    validate(document(service, monkeypatch))  # type: ignore[arg-type]


def test_the_report_request_example_is_due_in_the_future(monkeypatch: pytest.MonkeyPatch) -> None:
    openapi = document("notifications", monkeypatch)
    body = openapi["paths"]["/v1/report-requests"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = openapi["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    for example in schema["examples"]:
        assert date.fromisoformat(example["due_on"]) >= SystemClock().today()


def test_the_plan_example_creates_a_sample_plan_rather_than_replacing_a_shipped_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operation = document("indicators", monkeypatch)["paths"]["/v1/plans/{code}"]["put"]
    shipped = {json.loads(p.read_text(encoding="utf-8"))["code"] for p in SHIPPED_PLANS.glob("*.json")}
    (code,) = [p for p in operation["parameters"] if p["name"] == "code"]
    body = operation["requestBody"]["content"]["application/json"]
    examples = body.get("examples") or body["schema"].get("examples") or []
    assert examples
    for example in examples:
        plan = PlanDocument.model_validate(example)
        assert plan.code not in shipped
        assert plan.indicators and plan.targets, "a replayed example must not leave an empty plan"
        code_examples = code.get("examples") or code["schema"]["examples"]
        assert plan.slug in code_examples or plan.code in code_examples


def test_last_event_id_is_documented_as_the_event_ids_the_stream_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    operation = document("notifications", monkeypatch)["paths"]["/v1/stream"]["get"]
    (header,) = [p for p in operation["parameters"] if p["name"] == "Last-Event-ID"]
    pattern = header["schema"]["pattern"]
    for refused in ["", "abc", "-1"]:
        assert not re.search(pattern, refused), refused
    assert re.search(pattern, "41")
