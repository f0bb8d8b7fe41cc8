"""Response bodies of the indicators API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

# The example of `PUT /v1/plans/{code}`: a complete plan under a code no shipped plan uses, so replaying the
# example (as Swagger UI's "Try it out" does) creates a sample plan instead of replacing the live one.
PLAN_CODE_EXAMPLE = "01-KH-VIDU"
PLAN_EXAMPLE = {
    "code": "01/KH-VIDU",
    "title": "Kế hoạch ví dụ (sample plan)",
    "baseline_period": "2023-H2",
    "indicators": [
        {
            "code": "fair_or_better_share",
            "name": "Tỷ lệ HTX NN xếp loại khá, tốt",
            "kind": "share",
            "unit": "%",
            "population": [{"field": "legal_status", "op": "eq", "value": "active"}],
            "predicate": [{"field": "classification", "op": "in", "value": ["good", "fair"]}],
        }
    ],
    "targets": [
        {
            "code": "1.a",
            "title": "Trên 65% HTX NN đạt loại khá, tốt",
            "indicator": "fair_or_better_share",
            "threshold": 65,
            "deadline": "2030-12-31",
            "lead": "SNN",
        }
    ],
}


class PlanSummary(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "219/KH-UBND",
                    "title": "Kế hoạch phát triển HTX nông nghiệp TP. Cần Thơ đến năm 2025",
                    "version": 1,
                    "source": "file",
                    "loaded_at": "2025-07-15T03:00:00Z",
                    "targets": 11,
                    "indicators": 12,
                }
            ]
        }
    )

    code: str
    title: str
    version: int
    source: str
    loaded_at: datetime
    targets: int
    indicators: int


class TargetOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "219-KH-UBND:II.2.a",
                    "code": "II.2.a",
                    "title": "Khoảng trên 65% HTX NN đạt loại khá, tốt",
                    "indicator": "fair_or_better_share",
                    "direction": "increase",
                    "threshold": "65",
                    "deadline": "2025-12-31",
                    "scope": "city",
                    "yes_no": False,
                    "qualitative": False,
                    "lead": "SNN",
                    "coordinating": ["LMHTX", "district_committees"],
                }
            ]
        }
    )

    id: str
    code: str
    title: str
    indicator: str | None
    direction: str
    threshold: Decimal | None
    deadline: date
    scope: str
    yes_no: bool
    qualitative: bool
    lead: str
    coordinating: list[str]


class TargetProgressOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target_id": "219-KH-UBND:II.2.e",
                    "target_code": "II.2.e",
                    "title": "Tối thiểu 50% HTX NN tham gia sàn thương mại điện tử",
                    "unit_code": "92",
                    "status": "at_risk",
                    "status_vi": "có nguy cơ không đạt",
                    "ratio": "0.71",
                    "baseline": "12.5",
                    "baseline_on": "2023-12-31",
                    "current": "28.1",
                    "current_on": "2025-06-30",
                    "target": "50",
                    "projection": "34.2",
                    "deadline": "2025-12-31",
                    "lead_agency": "SCT",
                    "coordinating_agencies": ["LMHTX"],
                    "explanation": "Có nguy cơ không đạt (at_risk): … giá trị gốc 12,5% (31/12/2023); hiện tại 28,1% …",
                }
            ]
        }
    )

    target_id: str
    target_code: str
    title: str
    unit_code: str
    status: str = Field(
        description="achieved | on_track | at_risk | off_track | deteriorating | missed | "
        "not_achieved | insufficient_data | qualitative"
    )
    status_vi: str
    ratio: Decimal | None = Field(description="Observed ÷ required growth rate (R)")
    baseline: Decimal | None
    baseline_on: date | None
    current: Decimal | None
    current_on: date | None
    target: Decimal | None
    projection: Decimal | None = Field(description="Projected value at the deadline (recent-weighted linear trend)")
    deadline: date
    lead_agency: str
    coordinating_agencies: list[str]
    explanation: str


class ProgressSummary(BaseModel):
    plan_code: str
    unit_code: str
    as_of: date
    counts: dict[str, int] = Field(description="How many targets are in each status")
    targets: list[TargetProgressOut]


class ValuePoint(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period": "2025-H1",
                    "period_end": "2025-06-30",
                    "value": "58.1",
                    "numerator": "83",
                    "denominator": "143",
                    "members": 150,
                }
            ]
        }
    )

    period: str
    period_end: date
    value: Decimal | None
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    members: int | None = Field(None, description="Cooperatives that reported for the period")


class ValueSeries(BaseModel):
    plan_code: str
    indicator_code: str
    name: str
    unit: str
    unit_code: str
    points: list[ValuePoint]


class RecomputeOut(BaseModel):
    plan_code: str
    cooperatives: int
    values: int
    differences: list[dict[str, str | None]] = Field(description="Values the incremental path had wrong (expected [])")
