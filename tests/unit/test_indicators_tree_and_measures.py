"""The unit tree walked in memory, and measures built once per indicator, give what the SQL walk and the
condition-by-condition reading gave."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.indicators.domain.measures import contribution
from services.indicators.domain.plans import Condition, IndicatorDef
from services.indicators.domain.tree import MAX_DEPTH, OrgTree

TREE = OrgTree(
    {
        "92": None,
        "916": "92",
        "917": "92",
        "91601": "916",
        "91602": "916",
        "9160101": "91601",
        "X1": "X2",  # a broken tree: a cycle
        "X2": "X1",
    }
)


def test_ancestors_nearest_first_up_to_the_root() -> None:
    assert TREE.ancestors("9160101") == ["9160101", "91601", "916", "92"]
    assert TREE.ancestors("92") == ["92"]
    assert TREE.ancestors("999") == ["999"]  # not known here: its own only ancestor


def test_ancestors_stop_on_a_cycle_and_at_the_depth_limit() -> None:
    assert TREE.ancestors("X1") == ["X1", "X2"]
    chain = OrgTree({str(i): str(i + 1) for i in range(50)})
    assert len(chain.ancestors("0")) == MAX_DEPTH


def test_subtree_and_districts() -> None:
    assert TREE.subtree("916") == {"916", "91601", "91602", "9160101"}
    assert TREE.subtree("917") == {"917"}
    assert TREE.subtree("999") == {"999"}
    assert TREE.subtree("X1") == {"X1", "X2"}
    assert TREE.districts("92") == ["916", "917"]
    assert TREE.districts("917") == []


RECORD: dict[str, Any] = {
    "legal_status": "active",
    "classification": "good",
    "members_official": 30,
    "members_associate": None,
    "farmland_ha": Decimal("12.5"),
    "revenue_vnd": 7,
}


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([{"field": "members_official", "op": "gt", "value": 29}], (1, 1)),
        ([{"field": "members_official", "op": "gte", "value": "30"}], (1, 1)),
        ([{"field": "members_official", "op": "lt", "value": 30}], (0, 1)),
        ([{"field": "farmland_ha", "op": "lte", "value": "12.50"}], (1, 1)),
        ([{"field": "members_associate", "op": "gte", "value": 0}], (0, 1)),  # missing: never holds
        ([{"field": "classification", "op": "not_in", "value": ["weak"]}], (1, 1)),
        ([{"field": "classification", "op": "ne", "value": "good"}], (0, 1)),
        (
            [
                {"field": "classification", "op": "in", "value": ["good", "fair"]},
                {"field": "members_official", "op": "gt", "value": 100},
            ],
            (0, 1),
        ),
    ],
)
def test_a_share_reads_its_conditions(conditions: list[dict[str, Any]], expected: tuple[int, int]) -> None:
    share = IndicatorDef.model_validate(
        {
            "code": "share_x",
            "name": "s",
            "kind": "share",
            "population": [{"field": "legal_status", "op": "eq", "value": "active"}],
            "predicate": conditions,
        }
    )
    assert contribution(share, RECORD) == expected
    assert contribution(share, RECORD | {"legal_status": "dissolved"}) == (0, 0)


def test_ratios_sum_their_fields() -> None:
    def ratio(denominator: Any) -> IndicatorDef:
        return IndicatorDef.model_validate(
            {
                "code": "ratio_x",
                "name": "r",
                "kind": "ratio",
                "numerator": ["members_official", "members_associate"],
                "denominator": denominator,
            }
        )

    assert contribution(ratio(None), RECORD) == (Decimal(30), Decimal(0))
    assert contribution(ratio("count"), RECORD) == (Decimal(30), Decimal(1))
    assert contribution(ratio(["farmland_ha", "revenue_vnd"]), RECORD) == (Decimal(30), Decimal("19.5"))


@pytest.mark.parametrize(
    "value",
    [2**63, -(2**63) - 1, [1, 10**20], float("nan"), float("inf"), {"x": [10**30]}],
)
def test_a_condition_refuses_numbers_a_json_column_cannot_give_back(value: Any) -> None:
    op = "in" if isinstance(value, list) else "eq"
    with pytest.raises(ValidationError, match="numbers must be finite"):
        Condition.model_validate({"field": "members_official", "op": op, "value": value})


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), [0, 1.5, "30"], True, "12.50"])
def test_a_condition_keeps_numbers_that_fit(value: Any) -> None:
    op = "in" if isinstance(value, list) else "eq"
    assert Condition.model_validate({"field": "members_official", "op": op, "value": value}).value == value
