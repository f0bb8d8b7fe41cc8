"""Versioned event payloads (the ``data`` of each CloudEvent).

Event-carried state transfer: each event holds the full new state of its aggregate and a version that
increases with every change, so a consumer never calls back and can ignore an older version arriving late.
Field names are English snake_case; Vietnamese appears in values (names) and in the descriptions.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events import topics

TYPE_PREFIX = "vn.gov.cantho.htx."


class EventPayload(BaseModel):
    """Base of every payload; subclasses name their topic and CloudEvents type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: ClassVar[str]
    event_type: ClassVar[str]
    summary: ClassVar[str]
    key_description: ClassVar[str]
    """What the record key is (the AsyncAPI document states it): the identity that `version` counts."""

    def key(self) -> str:
        """The Kafka record key: exactly the identity that the payload's `version` counts, so the versions of
        one key only go up, Kafka keeps them in order, and "latest version per key" (or a compacted topic)
        never drops a state that another key's record superseded."""
        raise NotImplementedError


class Sector(StrEnum):
    cultivation = "cultivation"
    livestock = "livestock"
    aquaculture = "aquaculture"
    forestry = "forestry"
    agricultural_services = "agricultural_services"
    salt = "salt"
    mixed = "mixed"


class LegalStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    dissolved = "dissolved"


class Classification(StrEnum):
    """Annual classification [xếp loại]: tốt / khá / trung bình / yếu / chưa xếp loại."""

    good = "good"
    fair = "fair"
    average = "average"
    weak = "weak"
    unrated = "unrated"


class StatusSnapshot(BaseModel):
    """The periodic status report [báo cáo tình hình] that drives every indicator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_id: UUID
    as_of: date
    period: str = Field(description="Reporting period, e.g. 2024-H1 or 2024")
    members_official: int = Field(ge=0)
    members_associate: int = Field(ge=0)
    charter_capital_vnd: int = Field(ge=0)
    revenue_vnd: int = Field(ge=0, description="Revenue over the last 12 months, VND")
    farmland_ha: Decimal = Field(ge=0)
    production_value_vnd: int = Field(ge=0)
    classification: Classification
    is_model: bool = Field(description="Mô hình điểm HTX NN hoạt động hiệu quả")
    enterprise_linked: bool
    enterprise_partners: list[str] = Field(default_factory=list)
    high_tech_or_gap: bool
    certifications: list[str] = Field(default_factory=list)
    ecommerce: bool
    ecommerce_platforms: list[str] = Field(default_factory=list)
    ocop_products: int = Field(ge=0)
    managers_total: int = Field(ge=0)
    managers_trained: int = Field(ge=0)
    managers_female: int = Field(ge=0)
    managers_under_35: int = Field(ge=0)


class CooperativeStatusV1(EventPayload):
    topic = topics.COOPERATIVE_STATUS
    event_type = TYPE_PREFIX + "registry.cooperative-status.v1"
    summary = "A cooperative's full current state (profile + latest status report), on every change."
    key_description = "cooperative_id"

    cooperative_id: UUID
    version: int = Field(ge=1)
    registration_code: str
    name: str
    unit_code: str
    sector: Sector
    legal_status: LegalStatus
    established_on: date | None = None
    status: StatusSnapshot | None = None
    changed_at: datetime

    def key(self) -> str:
        return str(self.cooperative_id)


class OrgUnitV1(EventPayload):
    topic = topics.ORG_UNITS
    event_type = TYPE_PREFIX + "registry.org-unit.v1"
    summary = "An administrative unit [đơn vị hành chính] and its validity period."
    key_description = "code"

    code: str
    name: str
    level: str
    parent_code: str | None = None
    valid_from: date
    valid_to: date | None = None
    version: int = Field(ge=1)

    def key(self) -> str:
        return self.code


class AgencyV1(EventPayload):
    topic = topics.AGENCIES
    event_type = TYPE_PREFIX + "registry.agency.v1"
    summary = "An agency [cơ quan], its jurisdiction and whether it is active."
    key_description = "code"

    code: str
    name: str
    kind: str
    jurisdiction_unit_code: str
    active: bool
    version: int = Field(ge=1)

    def key(self) -> str:
        return self.code


class ReportKind(StrEnum):
    semi_annual = "semi_annual"
    annual = "annual"
    ad_hoc = "ad_hoc"


class ReportSubmissionV1(EventPayload):
    topic = topics.REPORT_SUBMISSIONS
    event_type = TYPE_PREFIX + "registry.report-submission.v1"
    summary = "An agency submitted a report for a period; closes the matching reporting deadline."
    key_description = "agency_code (no version: each submission is its own event)"

    submission_id: UUID
    agency_code: str
    kind: ReportKind
    period: str = Field(description="2025-H1 (semi-annual), 2025 (annual) or the ad-hoc request id")
    reference: str
    submitted_on: date
    summary_text: str
    document_url: str | None = None
    request_id: UUID | None = None

    def key(self) -> str:
        return self.agency_code


class IndicatorValueV1(EventPayload):
    topic = topics.INDICATOR_VALUES
    event_type = TYPE_PREFIX + "indicators.indicator-value.v1"
    summary = "An indicator's value for a unit and period changed."
    key_description = "plan_code:indicator_code:unit_code:period"

    plan_code: str
    indicator_code: str
    unit_code: str
    period: str
    value: Decimal | None
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    version: int = Field(ge=1)
    computed_at: datetime

    def key(self) -> str:
        # The version counts the changes of one value: one indicator of a plan, in one unit, for one period.
        return f"{self.plan_code}:{self.indicator_code}:{self.unit_code}:{self.period}"


class TargetStatusV1(EventPayload):
    topic = topics.TARGET_STATUS
    event_type = TYPE_PREFIX + "indicators.target-status.v1"
    summary = "A target's progress status for a unit changed (old → new, with the numbers behind it)."
    key_description = "target_id|unit_code"

    plan_code: str
    target_id: str
    target_code: str
    unit_code: str
    old_status: str | None
    new_status: str
    explanation: str
    baseline: Decimal | None = None
    current: Decimal | None = None
    target: Decimal | None = None
    projection: Decimal | None = None
    deadline: date
    lead_agency: str
    coordinating_agencies: list[str] = Field(default_factory=list)
    version: int = Field(ge=1)
    changed_at: datetime

    def key(self) -> str:
        # The version counts the changes of one target's status in one unit. The notifications consumer needs
        # order only per (target, unit) — its alerts, dedup keys and stored states are all per pair — so
        # nothing relies on order across a target's units.
        return f"{self.target_id}|{self.unit_code}"


class AlertV1(EventPayload):
    topic = topics.ALERTS
    event_type = TYPE_PREFIX + "notifications.alert.v1"
    summary = "An alert's state changed (opened, updated, acknowledged, resolved)."
    key_description = "alert_id"

    alert_id: UUID
    kind: str
    agency_code: str
    unit_code: str | None = None
    target_code: str | None = None
    state: str
    title: str
    body: str
    version: int = Field(ge=1)
    changed_at: datetime

    def key(self) -> str:
        return str(self.alert_id)


CONTRACTS: tuple[type[EventPayload], ...] = (
    CooperativeStatusV1,
    OrgUnitV1,
    AgencyV1,
    ReportSubmissionV1,
    IndicatorValueV1,
    TargetStatusV1,
    AlertV1,
)
BY_TYPE: dict[str, type[EventPayload]] = {c.event_type: c for c in CONTRACTS}


def payload_json(payload: EventPayload) -> dict[str, Any]:
    return payload.model_dump(mode="json")
