"""Plans, indicators and targets as data — a plan document is validated here, once, when it is loaded.

An indicator is one of:
- `count`:  cooperatives in the population that satisfy the predicate;
- `share`:  the same count ÷ the population, in %;
- `ratio`:  Σ numerator fields ÷ (Σ denominator fields | number of cooperatives | 1), times `scale`;
- `change`: the % change of another indicator against its value in the plan's baseline period.
A predicate is a list of conditions (all must hold), each `field op value` over a cooperative's status.
Unknown fields, operators or indicator references are refused with a message naming where they are.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.indicators.domain.periods import normalise

# What a condition or a sum may refer to: the cooperative's profile and its status snapshot.
BOOL_FIELDS = {"is_model", "enterprise_linked", "high_tech_or_gap", "ecommerce"}
NUMBER_FIELDS = {
    "members_official",
    "members_associate",
    "charter_capital_vnd",
    "revenue_vnd",
    "farmland_ha",
    "production_value_vnd",
    "ocop_products",
    "managers_total",
    "managers_trained",
    "managers_female",
    "managers_under_35",
}
TEXT_FIELDS = {"legal_status", "sector", "classification", "unit_code"}
FIELDS = BOOL_FIELDS | NUMBER_FIELDS | TEXT_FIELDS
OPERATORS = {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte"}

Scope = Literal["city", "each_district"]
DISTRICT_COMMITTEE = "district_committee"  # in `lead`: the district's own People's Committee (UBND-<code>)
DISTRICT_COMMITTEES = "district_committees"  # in `coordinating`: every district's People's Committee


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    op: str
    value: Any

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in FIELDS:
            raise ValueError(f"unknown field {value!r}; known: {', '.join(sorted(FIELDS))}")
        return value

    @field_validator("op")
    @classmethod
    def _known_op(cls, value: str) -> str:
        if value not in OPERATORS:
            raise ValueError(f"unknown operator {value!r}; known: {', '.join(sorted(OPERATORS))}")
        return value

    @model_validator(mode="after")
    def _value_fits(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} needs a list value")
        if self.op in ("gt", "gte", "lt", "lte") and self.field not in NUMBER_FIELDS:
            raise ValueError(f"operator {self.op!r} needs a numeric field, not {self.field!r}")
        if not _numbers_fit(self.value):
            raise ValueError("value: numbers must be finite and within ±9,223,372,036,854,775,807")
        return self


def _numbers_fit(value: Any) -> bool:
    """Whether every number in `value` is one a JSON column gives back exactly (shared.jsoncodec: an integer
    outside 64 bits would be read back as a float, and NaN is not JSON)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_numbers_fit(item) for item in value)
    if isinstance(value, dict):
        return all(_numbers_fit(item) for item in value.values())
    return True


class IndicatorDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,60}$")
    name: str
    kind: Literal["count", "share", "ratio", "change"]
    unit: str = ""
    population: tuple[Condition, ...] = ()
    predicate: tuple[Condition, ...] = ()
    numerator: tuple[str, ...] = ()
    denominator: tuple[str, ...] | Literal["count"] | None = None
    scale: Decimal = Decimal(1)
    base: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> IndicatorDef:
        if self.kind in ("count", "share") and not self.predicate:
            raise ValueError(f"indicator {self.code}: a {self.kind} needs a predicate")
        if self.kind == "ratio":
            if not self.numerator:
                raise ValueError(f"indicator {self.code}: a ratio needs numerator fields")
            fields = list(self.numerator) + (list(self.denominator) if isinstance(self.denominator, tuple) else [])
            unknown = [f for f in fields if f not in NUMBER_FIELDS]
            if unknown:
                raise ValueError(f"indicator {self.code}: unknown numeric field(s) {unknown}")
        if self.kind == "change" and not self.base:
            raise ValueError(f"indicator {self.code}: a change needs `base`")
        return self


class TargetDef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    title: str
    indicator: str | None
    direction: Literal["increase", "decrease"] = "increase"
    threshold: Decimal | None = None
    strict: bool = False
    deadline: date
    scope: Scope = "city"
    yes_no: bool = False
    qualitative: bool = False
    lead: str
    coordinating: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _measurable(self) -> TargetDef:
        if not self.qualitative and (self.indicator is None or self.threshold is None):
            raise ValueError(f"target {self.code}: needs an indicator and a threshold (or qualitative: true)")
        return self


class PlanDocument(BaseModel):
    """The document accepted by `PUT /v1/plans/{code}` and shipped in `plans/*.json`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=3, max_length=60)
    title: str
    issued_on: date | None = None
    baseline_period: str
    city_unit: str = "92"
    indicators: tuple[IndicatorDef, ...]
    targets: tuple[TargetDef, ...]

    @field_validator("baseline_period")
    @classmethod
    def _period(cls, value: str) -> str:
        return normalise(value)

    @model_validator(mode="after")
    def _references(self) -> PlanDocument:
        codes = [i.code for i in self.indicators]
        if len(codes) != len(set(codes)):
            raise ValueError("indicator codes must be unique")
        known = set(codes)
        for indicator in self.indicators:
            if indicator.kind == "change":
                base = next((i for i in self.indicators if i.code == indicator.base), None)
                if base is None or base.kind == "change":
                    raise ValueError(f"indicator {indicator.code}: base {indicator.base!r} is not a base indicator")
        target_codes = [t.code for t in self.targets]
        if len(target_codes) != len(set(target_codes)):
            raise ValueError("target codes must be unique")
        for target in self.targets:
            if target.indicator is not None and target.indicator not in known:
                raise ValueError(f"target {target.code}: unknown indicator {target.indicator!r}")
        return self

    def indicator(self, code: str) -> IndicatorDef:
        return next(i for i in self.indicators if i.code == code)

    @property
    def base_indicators(self) -> tuple[IndicatorDef, ...]:
        return tuple(i for i in self.indicators if i.kind != "change")

    def target_id(self, target: TargetDef) -> str:
        """URL-safe and stable: `219-KH-UBND:II.2.a`."""
        return f"{self.slug}:{target.code}"

    @property
    def slug(self) -> str:
        return self.code.replace("/", "-")

    def target(self, target_id: str) -> TargetDef | None:
        return next((t for t in self.targets if self.target_id(t) == target_id), None)
