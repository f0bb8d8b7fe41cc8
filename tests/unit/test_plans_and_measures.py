"""Plan documents are validated at load time; contributions add up to the values."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.indicators.domain.measures import change_vs, contribution, value_of
from services.indicators.domain.periods import normalise, period_end, period_of
from services.indicators.domain.plans import PlanDocument

PLAN_FILE = Path(__file__).resolve().parents[2] / "services" / "indicators" / "plans" / "219-KH-UBND.json"


def plan_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PLAN_FILE.read_text())
    return data


def test_the_plan_219_file_has_every_target_of_the_digest() -> None:
    plan = PlanDocument.model_validate(plan_json())
    assert {t.code for t in plan.targets} == {
        "II.2.a",
        "II.2.b",
        "III.3.a",
        "II.2.c",
        "II.2.d(1)",
        "II.2.d(2)",
        "II.2.d(3)",
        "II.2.đ",
        "II.2.e",
        "II.2.g",
        "II.2.h",
    }
    assert plan.baseline_period == "2023-H2"
    district = next(t for t in plan.targets if t.code == "III.3.a")
    assert district.scope == "each_district"
    assert district.yes_no


@pytest.mark.parametrize(
    ("path", "bad", "message"),
    [
        (("indicators", 0, "predicate", 0, "field"), "colour", "unknown field 'colour'"),
        (("indicators", 0, "predicate", 0, "op"), "like", "unknown operator 'like'"),
        (("indicators", 3, "numerator"), ["revenue_vnd", "name"], "unknown numeric field"),
        (("targets", 0, "indicator"), "nope", "unknown indicator 'nope'"),
        (("baseline_period",), "2023-Q4", "not a reporting period"),
    ],
)
def test_a_plan_with_unknown_fields_or_operators_is_refused_clearly(
    path: tuple[Any, ...], bad: Any, message: str
) -> None:
    data = plan_json()
    node: Any = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = bad
    with pytest.raises(ValidationError, match=message):
        PlanDocument.model_validate(data)


RECORD = {
    "legal_status": "active",
    "classification": "fair",
    "is_model": True,
    "members_official": 30,
    "members_associate": 5,
    "revenue_vnd": 2_000_000_000,
    "production_value_vnd": 900_000_000,
    "farmland_ha": Decimal("12.5"),
    "managers_total": 6,
    "managers_trained": 2,
}


def test_contributions_and_values() -> None:
    plan = PlanDocument.model_validate(plan_json())
    share = plan.indicator("fair_or_better_share")
    assert contribution(share, RECORD) == (1, 1)
    assert contribution(share, RECORD | {"classification": "weak"}) == (0, 1)
    assert contribution(share, RECORD | {"legal_status": "dissolved"}) == (0, 0)  # outside the population
    assert value_of(share, Decimal(2), Decimal(3), 3) == Decimal("66.6667")
    per_ha = plan.indicator("value_per_ha")
    assert contribution(per_ha, RECORD) == (Decimal(900_000_000), Decimal("12.5"))
    members = plan.indicator("members_total")
    assert contribution(members, RECORD) == (35, 0)
    assert value_of(members, Decimal(35), Decimal(0), 1) == Decimal(35)
    trained = plan.indicator("trained_managers_share")
    assert value_of(trained, Decimal(2), Decimal(6), 1) == Decimal("33.3333")
    assert value_of(share, Decimal(0), Decimal(0), 0) is None
    assert change_vs(Decimal(200), Decimal(250)) == Decimal(25)
    assert change_vs(Decimal(0), Decimal(250)) is None


def test_periods() -> None:
    assert normalise("2024") == "2024-H2"
    assert normalise("2025-h1") == "2025-H1"
    assert str(period_end("2025-H1")) == "2025-06-30"
    assert period_of(period_end("2024")) == "2024-H2"
