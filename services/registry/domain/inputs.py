"""What callers send — validated once here and used by the API and the file import alike."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    JsonValue,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from shared.events.contracts import Classification, LegalStatus, ReportKind, Sector

# Mã số doanh nghiệp / mã số thuế: 10 digits, or 10 digits + "-" + 3 digits for a branch [chi nhánh].
REGISTRATION_CODE = re.compile(r"^\d{10}(-\d{3})?$")
PERIOD = re.compile(r"^(19|20)\d{2}(-H[12])?$")

# No control characters in text (PostgreSQL text cannot hold NUL); the pattern puts that in the OpenAPI schema.
TEXT = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300, pattern=TEXT)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=TEXT)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=TEXT)]
ContactName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=TEXT)]
# Prose (a report's summary) may keep its line breaks and tabs, and no other control character.
PROSE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _iso_day(value: object) -> object:
    # The schema says `format: date`; pydantic alone would also take 0 or "0" as a Unix timestamp.
    if isinstance(value, (int, float)) or (isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
UNIT_CODE = r"^[0-9]{1,20}$"  # mã đơn vị hành chính: digits (92, 916, 31117…)
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9 +().-]{6,30}$")]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Money = Annotated[int, Field(ge=0, le=10**16, description="VND, integer")]
Count = Annotated[int, Field(ge=0, le=1_000_000)]

COOPERATIVE_EXAMPLE: dict[str, Any] = {
    "registration_code": "1801234567",
    "name": "Hợp tác xã Nông nghiệp Mỹ Khánh",
    "unit_code": "926",
    "address": "Ấp Mỹ Ái, xã Mỹ Khánh, huyện Phong Điền, TP. Cần Thơ",
    "sector": "cultivation",
    "established_on": "2015-03-12",
    "legal_status": "active",
    "contact_name": "Nguyễn Văn Ba",
    "contact_phone": "0292 3850 123",
}

STATUS_EXAMPLE: dict[str, Any] = {
    "as_of": "2025-06-30",
    "period": "2025-H1",
    "members_official": 42,
    "members_associate": 15,
    "charter_capital_vnd": 1_200_000_000,
    "revenue_vnd": 3_500_000_000,
    "farmland_ha": "85.50",
    "production_value_vnd": 9_800_000_000,
    "classification": "fair",
    "is_model": True,
    "enterprise_linked": True,
    "enterprise_partners": ["Công ty CP Nông sản Cần Thơ"],
    "high_tech_or_gap": True,
    "certifications": ["VietGAP"],
    "ecommerce": True,
    "ecommerce_platforms": ["Postmart", "Shopee"],
    "ocop_products": 2,
    "managers_total": 7,
    "managers_trained": 3,
    "managers_female": 2,
    "managers_under_35": 1,
}


HUNDREDTH = Decimal("0.01")


class CooperativeFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name = Field(description="Tên HTX, có dấu")
    unit_code: str = Field(
        min_length=1, max_length=20, pattern=UNIT_CODE, description="Mã đơn vị hành chính (quận/huyện)"
    )
    address: ShortText | None = None
    sector: Sector
    established_on: Day | None = None
    legal_status: LegalStatus = LegalStatus.active
    contact_name: ContactName | None = None
    contact_phone: Phone | None = None
    contact_email: Email | None = None


class CooperativeCreate(CooperativeFields):
    model_config = ConfigDict(json_schema_extra={"examples": [COOPERATIVE_EXAMPLE]})

    registration_code: str = Field(
        description="Mã số HTX (10 chữ số, chi nhánh thêm -NNN)",
        examples=["1801234567"],
        json_schema_extra={"pattern": REGISTRATION_CODE.pattern},
    )

    @field_validator("registration_code")
    @classmethod
    def _registration_code(cls, value: str) -> str:
        value = value.strip()
        if not REGISTRATION_CODE.match(value):
            raise ValueError("must be 10 digits, optionally followed by -NNN for a branch (e.g. 1801234567-001)")
        return value


NOT_NULL_ON_UPDATE = ("name", "unit_code", "sector", "legal_status")


def _update_schema(schema: dict[str, Any]) -> None:
    """What `_not_empty` enforces, in the schema: at least one field, and the required ones never null."""
    schema["minProperties"] = 1
    schema["examples"] = [{"legal_status": "suspended", "contact_name": "Trần Thị Hoa"}]
    for name in NOT_NULL_ON_UPDATE:
        field = schema["properties"][name]
        branches = [b for b in field.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            field.update(branches[0])
        elif branches:
            field["anyOf"] = branches
        field.pop("default", None)


class CooperativeUpdate(BaseModel):
    """A partial update: only the fields present change. The registration code never changes."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra=lambda schema: _update_schema(schema),
    )

    name: Name | None = None
    unit_code: str | None = Field(None, min_length=1, max_length=20, pattern=UNIT_CODE)
    address: ShortText | None = None
    sector: Sector | None = None
    established_on: Day | None = None
    legal_status: LegalStatus | None = None
    contact_name: ContactName | None = None
    contact_phone: Phone | None = None
    contact_email: Email | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> CooperativeUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        for name in NOT_NULL_ON_UPDATE:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class StatusReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [STATUS_EXAMPLE]})

    as_of: Day = Field(description="Ngày số liệu (không được ở tương lai)")
    period: str = Field(
        description="Kỳ báo cáo: 2025-H1, 2025-H2 hoặc 2025 (cả năm)",
        examples=["2025-H1"],
        json_schema_extra={"pattern": r"^\s*(19|20)\d{2}(-[Hh][12])?\s*$"},
    )
    members_official: Count
    members_associate: Count
    charter_capital_vnd: Money
    revenue_vnd: Money
    farmland_ha: Annotated[
        Decimal,
        # As the column keeps it (numeric(12, 2)): the answer, the event and a later read show the same "85.50".
        AfterValidator(lambda hectares: hectares.quantize(HUNDREDTH)),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "number", "minimum": 0, "maximum": 1_000_000, "multipleOf": 0.01},
                    {"type": "string", "pattern": r"^[0-9]{1,7}(\.[0-9]{1,2})?$"},
                ],
                "description": 'Hecta, at most 2 decimals (a number, or a string such as "85.50")',
            }
        ),
    ] = Field(ge=0, le=1_000_000, max_digits=12, decimal_places=2)
    production_value_vnd: Money
    classification: Classification
    is_model: bool = False
    enterprise_linked: bool = False
    enterprise_partners: list[Label] = Field(default_factory=list, max_length=50)
    high_tech_or_gap: bool = False
    certifications: list[Label] = Field(default_factory=list, max_length=50)
    ecommerce: bool = False
    ecommerce_platforms: list[Label] = Field(default_factory=list, max_length=50)
    ocop_products: Count = 0
    managers_total: Count
    managers_trained: Count
    managers_female: Count
    managers_under_35: Count

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        value = value.strip().upper()
        if not PERIOD.match(value):
            raise ValueError("must look like 2025-H1, 2025-H2 or 2025")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StatusReportCreate:
        for part in ("managers_trained", "managers_female", "managers_under_35"):
            if getattr(self, part) > self.managers_total:
                raise ValueError(f"{part} cannot exceed managers_total ({self.managers_total})")
        year = int(self.period[:4])
        if abs(self.as_of.year - year) > 1:
            raise ValueError(f"as_of {self.as_of.isoformat()} is too far from period {self.period}")
        return self


# What `_period_matches_kind` and the ad-hoc rule enforce, in the schema: one shape per kind.
SUBMISSION_KINDS: list[JsonValue] = [
    {"properties": {"kind": {"const": "semi_annual"}, "period": {"pattern": r"^\s*\d{4}-H1\s*$"}}},
    {"properties": {"kind": {"const": "annual"}, "period": {"pattern": r"^\s*\d{4}\s*$"}}},
    {
        "properties": {"kind": {"const": "ad_hoc"}, "request_id": {"type": "string", "format": "uuid"}},
        "required": ["request_id"],
    },
]


class ReportSubmissionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "oneOf": SUBMISSION_KINDS,
            "examples": [
                {
                    "kind": "semi_annual",
                    "period": "2025-H1",
                    "reference": "125/BC-UBND",
                    "submitted_on": "2025-06-05",
                    "summary": "Báo cáo sơ kết 6 tháng đầu năm 2025 thực hiện Kế hoạch 219/KH-UBND",
                    "document_url": "https://vanban.cantho.gov.vn/125-BC-UBND.pdf",
                }
            ],
        },
    )

    kind: ReportKind
    period: str = Field(
        min_length=4, max_length=40, pattern=TEXT, description="2025-H1 (6 tháng), 2025 (năm), hoặc mã yêu cầu"
    )
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=TEXT)] = (
        Field(description="Số hiệu văn bản, ví dụ 125/BC-UBND")
    )
    submitted_on: Day
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000, pattern=PROSE)]
    document_url: HttpUrl | None = None
    request_id: UUID | None = Field(None, description="UUID of the ad-hoc request this answers (kind=ad_hoc)")

    @model_validator(mode="after")
    def _period_matches_kind(self) -> ReportSubmissionCreate:
        if self.kind == ReportKind.semi_annual and not re.match(r"^\d{4}-H1$", self.period):
            raise ValueError("a semi-annual report's period is YYYY-H1")
        if self.kind == ReportKind.annual and not re.match(r"^\d{4}$", self.period):
            raise ValueError("an annual report's period is YYYY")
        return self
