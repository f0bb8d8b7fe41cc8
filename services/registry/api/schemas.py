"""Response bodies of the registry API (requests are the models in domain/inputs.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.registry.db.models import Cooperative, StatusReport
from services.registry.domain.inputs import COOPERATIVE_EXAMPLE, STATUS_EXAMPLE


class StatusReportOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "7b1e2c1a-3f7d-4c36-9d0b-0e6f1f2a9a11",
                    "cooperative_id": "0f5d1c9e-8a7b-4c3d-9e2f-1a2b3c4d5e6f",
                    "revision": 1,
                    "reported_by_agency": "UBND-926",
                    "reported_by": "can-bo-phong-nn",
                    "created_at": "2025-07-02T03:15:00Z",
                    **STATUS_EXAMPLE,
                }
            ]
        },
    )

    id: uuid.UUID
    cooperative_id: uuid.UUID
    as_of: date
    period: str
    revision: int = Field(description="1 for the first report of a period; a correction adds a revision")
    members_official: int
    members_associate: int
    charter_capital_vnd: int
    revenue_vnd: int
    farmland_ha: Decimal
    production_value_vnd: int
    classification: str
    is_model: bool
    enterprise_linked: bool
    enterprise_partners: list[str]
    high_tech_or_gap: bool
    certifications: list[str]
    ecommerce: bool
    ecommerce_platforms: list[str]
    ocop_products: int
    managers_total: int
    managers_trained: int
    managers_female: int
    managers_under_35: int
    reported_by_agency: str
    reported_by: str
    created_at: datetime


class CooperativeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0f5d1c9e-8a7b-4c3d-9e2f-1a2b3c4d5e6f",
                    "version": 3,
                    "created_at": "2024-01-05T02:00:00Z",
                    "updated_at": "2025-07-02T03:15:00Z",
                    "latest_status": None,
                    **COOPERATIVE_EXAMPLE,
                }
            ]
        }
    )

    id: uuid.UUID
    registration_code: str
    name: str
    unit_code: str
    address: str | None
    sector: str
    established_on: date | None
    legal_status: str
    contact_name: str | None
    contact_phone: str | None
    contact_email: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    latest_status: StatusReportOut | None = None

    @classmethod
    def of(cls, coop: Cooperative, latest: StatusReport | None) -> CooperativeOut:
        return cls(
            id=coop.id,
            registration_code=coop.registration_code,
            name=coop.name,
            unit_code=coop.unit_code,
            address=coop.address,
            sector=coop.sector,
            established_on=coop.established_on,
            legal_status=coop.legal_status,
            contact_name=coop.contact_name,
            contact_phone=coop.contact_phone,
            contact_email=coop.contact_email,
            version=coop.version,
            created_at=coop.created_at,
            updated_at=coop.updated_at,
            latest_status=StatusReportOut.model_validate(latest) if latest is not None else None,
        )


class ChangeOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 812,
                    "version": 4,
                    "action": "updated",
                    "changes": {"legal_status": {"old": "active", "new": "suspended"}},
                    "actor": "can-bo-snn-01",
                    "actor_agency": "SNN",
                    "request_id": "5c1f…",
                    "at": "2025-08-01T01:00:00Z",
                }
            ]
        },
    )

    id: int = Field(description="Pass as `before` to page further back")
    version: int
    action: str = Field(description="created | updated | status_reported")
    changes: dict[str, Any]
    actor: str
    actor_agency: str
    request_id: str | None
    at: datetime


class UnitOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "code": "926",
                    "name": "Huyện Phong Điền",
                    "level": "rural_district",
                    "parent_code": "92",
                    "valid_from": "2009-01-01",
                    "valid_to": None,
                }
            ]
        },
    )

    code: str
    name: str
    level: str
    parent_code: str | None
    valid_from: date
    valid_to: date | None


class AgencyOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "code": "UBND-926",
                    "name": "Ủy ban nhân dân huyện Phong Điền",
                    "kind": "district_committee",
                    "jurisdiction_unit_code": "926",
                    "writes_registry": True,
                    "active": True,
                }
            ]
        },
    )

    code: str
    name: str
    kind: str
    jurisdiction_unit_code: str
    writes_registry: bool
    active: bool


class SubmissionOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "3d9b7c5a-1e2f-4a6b-8c9d-0e1f2a3b4c5d",
                    "agency_code": "UBND-926",
                    "kind": "semi_annual",
                    "period": "2025-H1",
                    "reference": "125/BC-UBND",
                    "submitted_on": "2025-06-05",
                    "summary": "Báo cáo sơ kết 6 tháng đầu năm 2025",
                    "document_url": None,
                    "request_id": None,
                    "submitted_by": "van-thu-ubnd",
                    "created_at": "2025-06-05T08:00:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    agency_code: str
    kind: str
    period: str
    reference: str
    submitted_on: date
    summary: str
    document_url: str | None
    request_id: uuid.UUID | None
    submitted_by: str
    created_at: datetime
