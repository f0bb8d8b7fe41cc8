"""How one cooperative contributes to an indicator, and how contributions add up to a value.

Every base indicator is a pair of sums (numerator, denominator) over cooperatives, so a unit's value is
maintained by adding one cooperative's new contribution and subtracting its old one — the work per event does
not depend on how many cooperatives there are — and a full recompute is the same sums done from scratch.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from services.indicators.domain.plans import Condition, IndicatorDef

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
VALUE_PLACES = Decimal("0.0001")

Contribution = tuple[Decimal, Decimal]  # (numerator, denominator)


Test = Callable[[Mapping[str, Any]], bool]
Measure = Callable[[Mapping[str, Any]], Contribution]
_ORDER: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _test(condition: Condition) -> Test:
    """`condition` as a function of a record (built once per indicator: it runs for every cooperative)."""
    name, expected = condition.field, condition.value
    match condition.op:
        case "eq":
            return lambda record: bool(record.get(name) == expected)
        case "ne":
            return lambda record: bool(record.get(name) != expected)
        case "in":
            return lambda record: record.get(name) in expected
        case "not_in":
            return lambda record: record.get(name) not in expected
    if condition.op not in _ORDER:
        raise ValueError(f"unknown operator {condition.op}")
    compare, bound = _ORDER[condition.op], Decimal(str(expected))

    def ordered(record: Mapping[str, Any]) -> bool:
        actual = record.get(name)
        return actual is not None and compare(Decimal(str(actual)), bound)

    return ordered


def _all(conditions: tuple[Condition, ...]) -> Test:
    tests = [_test(c) for c in conditions]
    if not tests:
        return lambda record: True
    if len(tests) == 1:
        return tests[0]
    return lambda record: all(test(record) for test in tests)


def _sum(fields: tuple[str, ...]) -> Callable[[Mapping[str, Any]], Decimal]:
    return lambda record: sum((Decimal(str(record.get(f) or 0)) for f in fields), ZERO)


def _measure(indicator: IndicatorDef) -> Measure:
    in_population = _all(indicator.population)
    match indicator.kind:
        case "count" | "share":
            satisfied = _all(indicator.predicate)
            outside: Contribution = (ZERO, ONE) if indicator.kind == "share" else (ZERO, ZERO)
            inside: Contribution = (ONE, outside[1])

            def counted(record: Mapping[str, Any]) -> Contribution:
                if not in_population(record):
                    return ZERO, ZERO
                return inside if satisfied(record) else outside

            return counted
        case "ratio":
            numerator = _sum(indicator.numerator)
            denominator = indicator.denominator
            over = _sum(denominator) if isinstance(denominator, tuple) else None
            fixed = ONE if denominator == "count" else ZERO

            def summed(record: Mapping[str, Any]) -> Contribution:
                if not in_population(record):
                    return ZERO, ZERO
                return numerator(record), (fixed if over is None else over(record))

            return summed
    raise ValueError(f"indicator {indicator.code}: {indicator.kind} is not a base indicator")


_measures: dict[int, tuple[IndicatorDef, Measure]] = {}


def measure_of(indicator: IndicatorDef) -> Measure:
    """The indicator's contribution function, built once per indicator definition (plans are immutable)."""
    known = _measures.get(id(indicator))
    if known is None or known[0] is not indicator:
        known = _measures[id(indicator)] = (indicator, _measure(indicator))
    return known[1]


def contribution(indicator: IndicatorDef, record: Mapping[str, Any]) -> Contribution:
    """The (numerator, denominator) one cooperative adds; (0, 0) when it is outside the population."""
    return measure_of(indicator)(record)


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
