"""How one cooperative contributes to an indicator, and how contributions add up to a value.

Every base indicator is a pair of sums (numerator, denominator) over cooperatives, so a unit's value is
maintained by adding one cooperative's new contribution and subtracting its old one — the work per event does
not depend on how many cooperatives there are — and a full recompute is the same sums done from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from services.indicators.domain.plans import Condition, IndicatorDef

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
VALUE_PLACES = Decimal("0.0001")

Contribution = tuple[Decimal, Decimal]  # (numerator, denominator)


def holds(condition: Condition, record: Mapping[str, Any]) -> bool:
    actual = record.get(condition.field)
    expected = condition.value
    match condition.op:
        case "eq":
            return bool(actual == expected)
        case "ne":
            return bool(actual != expected)
        case "in":
            return actual in expected
        case "not_in":
            return actual not in expected
    if actual is None:
        return False
    number, bound = Decimal(str(actual)), Decimal(str(expected))
    match condition.op:
        case "gt":
            return number > bound
        case "gte":
            return number >= bound
        case "lt":
            return number < bound
        case "lte":
            return number <= bound
    raise ValueError(f"unknown operator {condition.op}")


def _all(conditions: tuple[Condition, ...], record: Mapping[str, Any]) -> bool:
    return all(holds(c, record) for c in conditions)


def _sum(fields: tuple[str, ...], record: Mapping[str, Any]) -> Decimal:
    return sum((Decimal(str(record.get(f) or 0)) for f in fields), ZERO)


def contribution(indicator: IndicatorDef, record: Mapping[str, Any]) -> Contribution:
    """The (numerator, denominator) one cooperative adds; (0, 0) when it is outside the population."""
    if not _all(indicator.population, record):
        return ZERO, ZERO
    match indicator.kind:
        case "count":
            return (ONE if _all(indicator.predicate, record) else ZERO), ZERO
        case "share":
            return (ONE if _all(indicator.predicate, record) else ZERO), ONE
        case "ratio":
            numerator = _sum(indicator.numerator, record)
            if indicator.denominator == "count":
                return numerator, ONE
            if indicator.denominator is None:
                return numerator, ZERO
            return numerator, _sum(indicator.denominator, record)
    raise ValueError(f"indicator {indicator.code}: {indicator.kind} is not a base indicator")


def value_of(indicator: IndicatorDef, numerator: Decimal, denominator: Decimal, members: int) -> Decimal | None:
    """A unit's value from its sums; None when it is undefined (no cooperative reported, or ÷ 0)."""
    if members == 0:
        return None
    match indicator.kind:
        case "count":
            result = numerator
        case "share":
            if denominator == 0:
                return None
            result = HUNDRED * numerator / denominator
        case "ratio":
            if indicator.denominator is None:
                result = numerator * indicator.scale
            elif denominator == 0:
                return None
            else:
                result = indicator.scale * numerator / denominator
        case _:
            raise ValueError(f"indicator {indicator.code}: {indicator.kind} is not a base indicator")
    return result.quantize(VALUE_PLACES)


def change_vs(baseline: Decimal | None, current: Decimal | None) -> Decimal | None:
    """% change against the baseline value; undefined for a missing or zero baseline."""
    if baseline is None or current is None or baseline == 0:
        return None
    return (HUNDRED * (current - baseline) / baseline).quantize(VALUE_PLACES)
