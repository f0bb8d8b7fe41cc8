"""The demo registry measured against plan 219: `python -m services.registry.seed --summary`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.registry.seed.city import BASELINE, DEFAULT_SEED, DISTRICT_BY_CODE, DISTRICTS, PERIODS
from services.registry.seed.drafts import DemoCooperative, DemoRegistry
from services.registry.seed.generator import generate
from shared.events.contracts import Classification, LegalStatus

# -- measuring it against plan 219 (the CLI summary) --------------------------------------------------------


@dataclass(frozen=True)
class Measures:
    """Plan 219's quantities over the active cooperatives that reported for one period."""

    period: str
    cooperatives: int
    fair_or_better: float
    models: int
    districts_without_model: tuple[str, ...]
    members: int
    charter_capital_vnd: int
    farmland_ha: Decimal
    value_per_ha_vnd: float
    revenue_per_cooperative_vnd: float
    enterprise_linked: float
    high_tech_or_gap: float
    ecommerce: float
    managers_trained: float


def measure(registry: DemoRegistry, period: str) -> Measures | None:
    rows = [
        (c.data, r)
        for c in registry.cooperatives
        if c.data.legal_status == LegalStatus.active
        for r in c.reports
        if r.period == period
    ]
    if not rows:
        return None
    reports = [r for _, r in rows]
    n = len(reports)
    farmland = sum((r.farmland_ha for r in reports), Decimal(0))
    with_model = {data.unit_code for data, r in rows if r.is_model}
    return Measures(
        period=period,
        cooperatives=n,
        fair_or_better=sum(r.classification in (Classification.good, Classification.fair) for r in reports) / n,
        models=sum(r.is_model for r in reports),
        districts_without_model=tuple(d.code for d in DISTRICTS if d.code not in with_model),
        members=sum(r.members_official + r.members_associate for r in reports),
        charter_capital_vnd=sum(r.charter_capital_vnd for r in reports),
        farmland_ha=farmland,
        value_per_ha_vnd=sum(r.production_value_vnd for r in reports) / float(farmland),
        revenue_per_cooperative_vnd=sum(r.revenue_vnd for r in reports) / n,
        enterprise_linked=sum(r.enterprise_linked for r in reports) / n,
        high_tech_or_gap=sum(r.high_tech_or_gap for r in reports) / n,
        ecommerce=sum(r.ecommerce for r in reports) / n,
        managers_trained=sum(r.managers_trained for r in reports) / sum(r.managers_total for r in reports),
    )


def _progress(baseline: float, value: float, target: float, years: float = 2.0) -> float:
    """Open SDG's ratio of observed to required compound growth (DESIGN.md §5)."""
    observed = (value / baseline) ** (1 / years) - 1
    required = (target / baseline) ** (1 / years) - 1
    return observed / required


def summary(registry: DemoRegistry) -> str:
    """Totals per district at the 2023 baseline, and where the city stands against plan 219's targets."""
    lines = [f"Demo registry (seed {registry.seed}, today {registry.today:%d/%m/%Y}); the data is invented.", ""]
    lines.append(f"{'district':<22}{'HTX':>5}{'active':>8}{'members 2023':>14}{'capital 2023 (bn)':>19}{'ha 2023':>10}")
    rows: list[tuple[str, list[DemoCooperative]]] = [
        (f"{d.code} {d.name}", [c for c in registry.cooperatives if c.data.unit_code == d.code]) for d in DISTRICTS
    ]
    for label, coops in [*rows, ("city", list(registry.cooperatives))]:
        baseline = [r for c in coops for r in c.reports if r.period == PERIODS[BASELINE].name]
        active = sum(c.data.legal_status == LegalStatus.active for c in coops)
        members = sum(r.members_official + r.members_associate for r in baseline)
        capital = sum(r.charter_capital_vnd for r in baseline) / 1e9
        farmland = sum((r.farmland_ha for r in baseline), Decimal(0))
        lines.append(f"{label:<22}{len(coops):>5}{active:>8}{members:>14,}{capital:>19,.1f}{farmland:>10,.0f}")
    lines += ["", "Plan 219, active cooperatives' annual reports   2023 → 2024 → 2025"]
    found = [measure(registry, year) for year in ("2023", "2024", "2025")]
    years = [m for m in found if m is not None]
    if len(years) < len(found):
        return "\n".join([*lines, "  (the 2025 annual reports are dated after today: nothing to compare yet)"])
    base, latest = years[0], years[-1]

    def verdict(met: bool, ratio: float | None = None) -> str:
        return "met" if met else "NOT met" + (f" (progress ratio {ratio:.2f})" if ratio is not None else "")

    def share(label: str, get: Callable[[Measures], float], target: float) -> tuple[str, list[str], str]:
        ratio = _progress(get(base), get(latest), target)
        return label, [f"{get(m):.1%}" for m in years], verdict(get(latest) >= target, ratio)

    def growth(label: str, get: Callable[[Measures], float], target: float) -> tuple[str, list[str], str]:
        ratio = get(latest) / get(base)
        return (
            label,
            [f"{get(m) / get(base) - 1:+.1%}" for m in years],
            verdict(ratio >= target, _progress(1, ratio, target)),
        )

    without = ", ".join(DISTRICT_BY_CODE[code].name for code in latest.districts_without_model)
    targets = [
        share("II.2.a    fair or better [khá, tốt] ≥ 65 %", lambda m: m.fair_or_better, 0.65),
        ("II.2.b    model cooperatives ≥ 5", [str(m.models) for m in years], verdict(latest.models >= 5)),
        (
            "III.3.a   a model in each of the 9 districts",
            [str(len(DISTRICTS) - len(m.districts_without_model)) for m in years],
            verdict(not without) + (f": none in {without}" if without else ""),
        ),
        ("II.2.c    members growing", [f"{m.members:,}" for m in years], verdict(latest.members > base.members)),
        growth("II.2.d(1) value per hectare ≥ +10 %", lambda m: m.value_per_ha_vnd, 1.10),
        growth("II.2.d(2) revenue per cooperative ≥ +20 %", lambda m: m.revenue_per_cooperative_vnd, 1.20),
        share("II.2.d(3) linked with an enterprise ≥ 30 %", lambda m: m.enterprise_linked, 0.30),
        share("II.2.đ    high technology / GAP ≥ 40 %", lambda m: m.high_tech_or_gap, 0.40),
        share("II.2.e    on e-commerce platforms ≥ 50 %", lambda m: m.ecommerce, 0.50),
        share("II.2.g    managers trained ≥ 30 %", lambda m: m.managers_trained, 0.30),
    ]
    lines += [f"  {label:<46}{' → '.join(values):<26}  {outcome}" for label, values, outcome in targets]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.registry.seed",
        description="The demo registry `make run` seeds (nothing is written: this only prints what it would be).",
    )
    parser.add_argument("--summary", action="store_true", help="print totals per district and the target outcomes")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: today)")
    args = parser.parse_args(argv)
    if not args.summary:
        parser.print_help()
        return 0
    sys.stdout.write(summary(generate(today=args.today or date.today(), seed=args.seed)) + "\n")
    return 0
