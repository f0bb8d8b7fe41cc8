"""The oracle: plan 219's numbers computed with plain SQL over the registry's own tables.

Deliberately independent of the indicators service's code: no shared functions, just the definitions of the
plan written out as SQL aggregates and divisions.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import asyncpg

Q = Decimal("0.0001")

ORACLE_SQL = r"""
WITH periodised AS (
    SELECT r.*, CASE WHEN r.period ~ '^\d{4}$' THEN r.period || '-H2' ELSE r.period END AS p
    FROM registry.status_reports r
), latest AS (
    SELECT DISTINCT ON (cooperative_id, p) * FROM periodised ORDER BY cooperative_id, p, revision DESC
)
SELECT c.unit_code AS unit, l.p AS period,
       count(*) AS reported,
       count(*) FILTER (WHERE c.legal_status = 'active') AS active,
       count(*) FILTER (WHERE c.legal_status = 'active' AND l.classification IN ('good', 'fair')) AS fair_or_better,
       count(*) FILTER (WHERE c.legal_status = 'active' AND l.is_model) AS models,
       coalesce(sum(l.members_official + l.members_associate) FILTER (WHERE c.legal_status = 'active'), 0) AS members,
       coalesce(sum(l.production_value_vnd) FILTER (WHERE c.legal_status = 'active'), 0) AS production_value,
       coalesce(sum(l.farmland_ha) FILTER (WHERE c.legal_status = 'active'), 0) AS farmland,
       coalesce(sum(l.revenue_vnd) FILTER (WHERE c.legal_status = 'active'), 0) AS revenue,
       count(*) FILTER (WHERE c.legal_status = 'active' AND l.enterprise_linked) AS linked,
       count(*) FILTER (WHERE c.legal_status = 'active' AND l.high_tech_or_gap) AS gap,
       count(*) FILTER (WHERE c.legal_status = 'active' AND l.ecommerce) AS ecommerce,
       coalesce(sum(l.managers_trained) FILTER (WHERE c.legal_status = 'active'), 0) AS trained,
       coalesce(sum(l.managers_total) FILTER (WHERE c.legal_status = 'active'), 0) AS managers
FROM latest l JOIN registry.cooperatives c ON c.id = l.cooperative_id
GROUP BY c.unit_code, l.p
"""

SUMMED = (
    "reported",
    "active",
    "fair_or_better",
    "models",
    "members",
    "production_value",
    "farmland",
    "revenue",
    "linked",
    "gap",
    "ecommerce",
    "trained",
    "managers",
)


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return None if whole == 0 else (Decimal(100) * part / whole).quantize(Q)


def _div(part: Decimal, whole: Decimal) -> Decimal | None:
    return None if whole == 0 else (part / whole).quantize(Q)


def values_from(row: dict[str, Decimal]) -> dict[str, Decimal | None]:
    return {
        "fair_or_better_share": _pct(row["fair_or_better"], row["active"]),
        "model_count": row["models"].quantize(Q),
        "members_total": row["members"].quantize(Q),
        "value_per_ha": _div(row["production_value"], row["farmland"]),
        "revenue_per_cooperative": _div(row["revenue"], row["active"]),
        "enterprise_linked_share": _pct(row["linked"], row["active"]),
        "high_tech_gap_share": _pct(row["gap"], row["active"]),
        "ecommerce_share": _pct(row["ecommerce"], row["active"]),
        "trained_managers_share": _pct(row["trained"], row["managers"]),
    }


async def oracle(database_url: str, city: str = "92") -> dict[tuple[str, str], dict[str, Any]]:
    """{(unit, period): {indicator: value, "reported": n}} for every district and the city."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = [dict(r) for r in await conn.fetch(ORACLE_SQL)]
    finally:
        await conn.close()
    per_unit: dict[tuple[str, str], dict[str, Decimal]] = {}
    city_sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        sums = {k: Decimal(row[k]) for k in SUMMED}
        per_unit[(row["unit"], row["period"])] = sums
        for k in SUMMED:
            city_sums[row["period"]][k] += sums[k]
    for period, sums in city_sums.items():
        per_unit[(city, period)] = dict(sums)
    return {key: {**values_from(sums), "reported": int(sums["reported"])} for key, sums in per_unit.items()}


def change(base: Decimal | None, value: Decimal | None) -> Decimal | None:
    if base is None or value is None or base == 0:
        return None
    return (Decimal(100) * (value - base) / base).quantize(Q)
