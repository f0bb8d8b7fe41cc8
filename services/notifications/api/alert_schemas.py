"""Request and response bodies of `/v1/alerts`, `/v1/deadlines` and `/v1/report-requests`."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.clock import SystemClock
from shared.text import AGENCY_CODE, Day

# A plan's target code (II.2.e, III.3.a).
TARGET_CODE = r"^[\w.()\-]+$"
# At least three characters once whitespace is collapsed, and no control characters (`C` any allowed character,
# `N` a non-space one, `S` a space): three non-spaces, or two separated by spaces.
_C, _N, _S = r"[^\x00-\x1f\x7f]", r"[^\s\x00-\x1f\x7f]", r"[^\S\x00-\x1f\x7f]"
TITLE = rf"^{_C}*({_N}{_C}*{_N}{_C}*{_N}|{_N}{_S}+{_N}){_C}*$"

ALERT_EXAMPLE: dict[str, Any] = {
    "id": "3f1c2b7e-8d2a-4e59-9f3c-5a7b1d2e4c60",
    "kind": "target_risk",
    "role": "lead",
    "agency_code": "SCT",
    "unit_code": "92",
    "target_id": "219/KH-UBND:II.2.e",
    "target_code": "II.2.e",
    "deadline_id": None,
    "state": "open",
    "severity": "warning",
    "title": "Cảnh báo chỉ tiêu II.2.e (đơn vị 92): có nguy cơ không đạt",
    "body": "Chỉ tiêu II.2.e tại đơn vị hành chính 92 đang ở tình trạng «có nguy cơ không đạt». Mục tiêu: 50; "
    "hiện tại: 38,5; dự báo đến hạn: 44,2; hạn: 31/12/2025. Vai trò của cơ quan: chủ trì.",
    "data": {"template": "target_risk", "status": "at_risk", "target": "50", "current": "38.5"},
    "opened_at": "2025-07-15T03:00:00Z",
    "updated_at": "2025-07-15T03:00:00Z",
    "acknowledged_at": None,
    "acknowledged_by": None,
    "resolved_at": None,
    "resolved_by": None,
    "last_notified_at": "2025-07-15T03:00:00Z",
    "notify_count": 1,
    "version": 1,
}


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [ALERT_EXAMPLE]})

    id: uuid.UUID
    kind: str = Field(description="target_risk | target_deadline | deadline_reminder | deadline_overdue")
    role: str = Field(description="lead | coordinating | owner")
    agency_code: str
    unit_code: str | None
    target_id: str | None
    target_code: str | None
    deadline_id: uuid.UUID | None
    state: str = Field(description="open | acknowledged | resolved")
    severity: str = Field(description="info | warning | critical")
    title: str
    body: str
    data: dict[str, Any] = Field(description="The numbers behind the alert (and the template its text comes from)")
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    last_notified_at: datetime | None
    notify_count: int
    version: int


DEADLINE_EXAMPLE: dict[str, Any] = {
    "id": "8c0d5a2e-1b7f-4d3c-a6e9-2f4b8c1d0e57",
    "agency_code": "UBND-926",
    "kind": "semi_annual",
    "period": "2025-H1",
    "due_on": "2025-06-09",
    "state": "met_late",
    "submitted_on": "2025-06-12",
    "submission_id": "0a9e7c1d-4b2f-4e8a-9c3d-6f5e4d3c2b1a",
    "request_id": None,
    "request_title": None,
    "created_at": "2025-01-01T00:00:00Z",
}


class DeadlineOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DEADLINE_EXAMPLE]})

    id: uuid.UUID
    agency_code: str
    kind: str = Field(description="semi_annual | annual | ad_hoc")
    period: str = Field(description="2025-H1, 2025, or the ad-hoc request id")
    due_on: date = Field(description="Last day to submit (inclusive), Vietnam time")
    state: str = Field(description="upcoming | due | overdue | met | met_late")
    submitted_on: date | None
    submission_id: uuid.UUID | None
    request_id: uuid.UUID | None
    request_title: str | None
    created_at: datetime


REQUEST_EXAMPLE: dict[str, Any] = {
    "title": "Báo cáo tình hình thiệt hại do triều cường đối với HTX nông nghiệp",
    "agencies": ["UBND-924", "UBND-925", "UBND-926"],
}


def request_example() -> dict[str, Any]:
    """Due two weeks after the document is built: `due_on` must be today or later, and an example is sent as is."""
    return {**REQUEST_EXAMPLE, "due_on": (SystemClock().today() + timedelta(days=14)).isoformat()}


def _request_in_examples(schema: dict[str, Any]) -> None:
    schema["examples"] = [request_example()]


def _request_out_examples(schema: dict[str, Any]) -> None:
    request, request_id = request_example(), "c4a1e2b3-5d6f-4a7b-8c9d-0e1f2a3b4c5d"
    deadline = DEADLINE_EXAMPLE | {"kind": "ad_hoc", "period": request_id, "due_on": request["due_on"], "state": "due"}
    deadline |= {"submitted_on": None, "submission_id": None, "request_id": request_id}
    deadline |= {"request_title": request["title"]}
    created = {"created_by": "can-bo-snn-01", "created_by_agency": "SNN", "created_at": "2025-10-06T02:30:00Z"}
    schema["examples"] = [{"id": request_id, **request, **created, "deadlines": [deadline]}]


class ReportRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_request_in_examples)

    title: str = Field(
        min_length=3, max_length=500, pattern=TITLE, description="What is asked [nội dung yêu cầu báo cáo]"
    )
    agencies: list[Annotated[str, Field(min_length=1, max_length=30, pattern=AGENCY_CODE)]] = Field(
        min_length=1,
        max_length=100,
        json_schema_extra={"uniqueItems": True},
        description="Agencies that must report (known, active agencies, each once)",
    )
    due_on: Day = Field(description="Last day to submit (inclusive), Vietnam time; today or later")

    @field_validator("title")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 3:
            raise ValueError("must have at least 3 characters")
        return value


class ReportRequestOut(BaseModel):
    model_config = ConfigDict(json_schema_extra=_request_out_examples)

    id: uuid.UUID
    title: str
    agencies: list[str]
    due_on: date
    created_by: str
    created_by_agency: str
    created_at: datetime
    deadlines: list[DeadlineOut]


AlertState = Literal["open", "acknowledged", "resolved"]
AlertKind = Literal["target_risk", "target_deadline", "deadline_reminder", "deadline_overdue"]
DeadlineState = Literal["upcoming", "due", "overdue", "met", "met_late"]
