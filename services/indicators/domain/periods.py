"""Reporting periods: half years. An annual report (`2024`) describes the state at 31/12, i.e. `2024-H2`."""

from __future__ import annotations

import re
from datetime import date

_PERIOD = re.compile(r"^(\d{4})(?:-H([12]))?$")


def normalise(period: str) -> str:
    match = _PERIOD.match(period.strip().upper())
    if not match:
        raise ValueError(f"not a reporting period: {period!r}")
    year, half = match.group(1), match.group(2) or "2"
    return f"{year}-H{half}"


def period_end(period: str) -> date:
    p = normalise(period)
    year = int(p[:4])
    return date(year, 6, 30) if p.endswith("H1") else date(year, 12, 31)


def period_of(day: date) -> str:
    return f"{day.year}-H{1 if day.month <= 6 else 2}"


def years_between(start: date, end: date) -> float:
    return (end - start).days / 365.25
