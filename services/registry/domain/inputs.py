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
from shared.text import REFUSED_CHARACTERS, Day, Prose, Text, no_astral_noncharacters

# Mã số doanh nghiệp / mã số thuế: 10 digits, or 10 digits + "-" + 3 digits for a branch [chi nhánh].
REGISTRATION_CODE = re.compile(r"^\d{10}(-\d{3})?$")

# Every free-text field is `Text` (one line) or `Prose` (may keep line breaks): no control characters, no
# noncharacters (shared.text states the rule once, and it reaches the OpenAPI schema).
Name = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]
ShortText = Annotated[Text, StringConstraints(strip_whitespace=True, max_length=500)]
Label = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ContactName = Annotated[Text, StringConstraints(strip_whitespace=True, max_length=200)]
Reference = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Summary = Annotated[Prose, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]

# Plausible dates. A report period is a year 2000..2100 (a year the notifications service can schedule); a
# cooperative is founded from 1900 on, a submission filed from 2000 on, neither in the future (the services
# check that against their clock).
YEAR = r"(20[0-9]{2}|2100)"
FOUNDED_FROM = date(1900, 1, 1)
SUBMITTED_FROM = date(2000, 1, 1)
PERIOD = re.compile(rf"^{YEAR}(-H[12])?$")


def _not_before(first: date) -> AfterValidator:
    def check(day: date) -> date:
        if day < first:
            raise ValueError(f"must not be before {first.isoformat()}")
        return day

    return AfterValidator(check)


# JSON Schema has no minimum for `format: date`, so the description states the range.
Founded = Annotated[
    Day,
    _not_before(FOUNDED_FROM),
    Field(description="Ngày thành lập: from 1900-01-01, not after today", examples=["2015-03-12"]),
]
Submitted = Annotated[
    Day,
    _not_before(SUBMITTED_FROM),
    Field(description="Ngày nộp: from 2000-01-01, not after today", examples=["2025-06-05"]),
]
UNIT_CODE = r"^[0-9]{1,20}$"  # mã đơn vị hành chính: digits (92, 916, 31117…)
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9 +().-]{6,30}$")]
# An address that fits no mail system's rules is refused: no control character, no noncharacter, no space.
EMAIL = rf"^[^@\s{REFUSED_CHARACTERS}]+@[^@\s{REFUSED_CHARACTERS}]+\.[^@\s{REFUSED_CHARACTERS}]+$"
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200, pattern=EMAIL),
    AfterValidator(no_astral_noncharacters),
]
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
    established_on: Founded | None = None
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
    established_on: Founded | None = None
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
        description="Kỳ báo cáo: 2025-H1, 2025-H2 hoặc 2025 (cả năm); năm 2000..2100",
        examples=["2025-H1"],
        json_schema_extra={"pattern": rf"^\s*{YEAR}(-[Hh][12])?\s*$"},
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
            raise ValueError("must look like 2025-H1, 2025-H2 or 2025, year 2000..2100")
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
    {"properties": {"kind": {"const": "semi_annual"}, "period": {"pattern": rf"^\s*{YEAR}-H1\s*$"}}},
    {"properties": {"kind": {"const": "annual"}, "period": {"pattern": rf"^\s*{YEAR}\s*$"}}},
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
    period: Text = Field(
        min_length=4, max_length=40, description="2025-H1 (6 tháng), 2025 (năm), hoặc mã yêu cầu; năm 2000..2100"
    )
    reference: Reference = Field(description="Số hiệu văn bản, ví dụ 125/BC-UBND")
    submitted_on: Submitted
    summary: Summary
    document_url: HttpUrl | None = None
    request_id: UUID | None = Field(None, description="UUID of the ad-hoc request this answers (kind=ad_hoc)")

    @model_validator(mode="after")
    def _period_matches_kind(self) -> ReportSubmissionCreate:
        if self.kind == ReportKind.semi_annual and not re.fullmatch(rf"{YEAR}-H1", self.period):
            raise ValueError("a semi-annual report's period is YYYY-H1, year 2000..2100")
        if self.kind == ReportKind.annual and not re.fullmatch(YEAR, self.period):
            raise ValueError("an annual report's period is YYYY, year 2000..2100")
        return self
