"""The demo registry that `make run` seeds: about 155 agricultural cooperatives [HTX NN] of Cần Thơ with
status reports from 2023 to mid-2026, generated — not typed in — from a seed, so that every run and every
test sees the same data (`random.Random(seed)`; the clock's `today` only decides which reports exist yet).

Everything here is invented. Names are composed from real parts — "Hợp tác xã"/"HTX", a line of business
("Nông nghiệp", "Dịch vụ nông nghiệp", "Lúa gạo", "Trái cây", "Rau an toàn", "Thủy sản"...) and the commune
or ward [xã, phường, thị trấn] of the district it sits in — so search, filters and the Vietnamese UI can be
tried on realistic text. Registration codes are 10 digits with Cần Thơ's tax-code prefix `18`, rising with
the date of establishment (1998–2022). Cultivation is the most common sector; rural districts (Vĩnh Thạnh,
Cờ Đỏ, Phong Điền, Thới Lai) and Thốt Nốt / Ô Môn hold most cooperatives, Ninh Kiều a handful. Four were
dissolved (last report 2023 or 2024-H1) and five suspended (last report 2024 or 2025-H1).

The 2023 baseline (the annual report as of 31/12/2023, all 155 cooperatives) totals 2,950 members (official +
associate) and 180 billion VND of charter capital. Reports: 2023-H1, 2023, 2024-H1, 2024, 2025-H1, 2025,
2026-H1 (H1 as of 30 June, annual as of 31 December), never one dated after `today`. As the event contract
says, `revenue_vnd` covers the 12 months up to `as_of`; `production_value_vnd` does too. An H1 report
carries the cooperative's latest annual classification (the previous year's).

Intended outcomes against plan 219's 2025 targets, measured on the annual reports of the cooperatives whose
legal status is active (146), 2023 baseline → 2024 → 2025; `python -m services.registry.seed --summary`
recomputes them from the generated data:

| target    | measure                                    | 2023    | 2024    | 2025    | target  | outcome      |
|-----------|--------------------------------------------|---------|---------|---------|---------|--------------|
| II.2.a    | share rated fair or better [khá, tốt]      | 45 %    | 57 %    | 68 %    | ≥ 65 %  | met          |
| II.2.b    | model cooperatives, city                   | 3       | 5       | 7       | ≥ 5     | met          |
| III.3.a   | districts with a model cooperative         | 3 of 9  | 5 of 9  | 7 of 9  | all 9   | not met (1)  |
| II.2.c    | members, official + associate              | 2,789   | 2,901   | 3,012   | growing | met (2)      |
| II.2.d(1) | production value per hectare vs. 2023      |         | +3.0 %  | +6.5 %  | +10 %   | at risk      |
| II.2.d(2) | revenue per active cooperative vs. 2023    |         | +12 %   | +25 %   | +20 %   | met          |
| II.2.d(3) | share linked with a buying enterprise      | 23 %    | 29 %    | 33 %    | ≥ 30 %  | met          |
| II.2.đ    | share applying high technology / GAP       | 15 %    | 23 %    | 30 %    | ≥ 40 %  | at risk      |
| II.2.e    | share selling on e-commerce platforms      | 8 %     | 18 %    | 30 %    | ≥ 50 %  | at risk      |
| II.2.g    | share of managers trained as HTX directors | 15 %    | 20 %    | 25 %    | ≥ 30 %  | at risk      |

(1) Ninh Kiều and Bình Thủy build no model cooperative. (2) Slowly, about +4 % a year; the 2,950 members of
the baseline include the nine cooperatives that later stopped.

"At risk" in the sense of DESIGN.md §5: by the Open SDG method over 2023 → 2025 the ratio of observed to
required compound growth lies between 0.6 and 0.95 (value per hectare 0.66, high technology 0.66, e-commerce
0.62, trained managers 0.70) — behind, not hopeless. Once the 2025 deadline has passed these read "missed".
The 2026-H1 reports continue each trend a little. A cooperative that linked with an enterprise, adopted GAP,
went online or trained a manager keeps it, so the shares grow as nested sets and the curves are smooth.

`seed_demo` writes the data through `CooperativeService.create_in` / `StatusReportService.report_on`, in one
transaction, as the system principal `demo-seed` of SNN: the audit trail and the outbox events are exactly those of API
writes. It does nothing when the registry already holds a cooperative (safe across restarts and replicas).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TypeVar

from services.registry.seed.city import (
    ANNUAL,
    BASELINE,
    BASELINE_CAPITAL_VND,
    BASELINE_MEMBERS,
    CROPS,
    DEFAULT_SEED,
    DISTRICTS,
    FAIR_OR_BETTER,
    MEMBER_GROWTH,
    MIN_MEMBERS,
    MODELS,
    NO_MODEL_DISTRICTS,
    PERIODS,
    REVENUE_GROWTH,
    SERVICE_REVENUE,
    SHARES,
    STATUS_COUNTS,
    TRAINED_SHARE,
    VALUE_PER_HA_GROWTH,
    S,
)
from services.registry.seed.drafts import DemoRegistry, Draft
from services.registry.seed.rendering import Namer, render
from shared.events.contracts import Classification, LegalStatus


def generate(*, today: date, seed: int = DEFAULT_SEED) -> DemoRegistry:
    """The demo registry for `seed`. Every random draw happens whatever `today` is; `today` only drops the
    reports dated after it, so the same seed gives the same history on any day."""
    rng = random.Random(seed)
    drafts = _skeletons(rng)
    _status_and_models(rng, drafts)
    _members(rng, drafts)
    _land_and_money(rng, drafts)
    _capital(rng, drafts)
    _classifications(rng, drafts)
    _practices(rng, drafts)
    _managers(rng, drafts)
    namer = Namer()
    return DemoRegistry(seed, today, tuple(render(rng, namer, d, today) for d in drafts))


# -- generation steps ---------------------------------------------------------------------------------------

T = TypeVar("T")


def _pick(rng: random.Random, weighted: Sequence[tuple[T, float]]) -> T:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _round_to(value: float, unit: int) -> int:
    return max(0, round(value / unit) * unit)


def _shift(
    rng: random.Random, values: dict[int, int], delta: int, weights: dict[int, float], *, lo: int, hi: dict[int, int]
) -> None:
    """Add (or take away) `delta` units one at a time, each to a key drawn by weight, keeping every value within
    [lo, hi[key]]: exact totals, without the bias of rounding each share."""
    step = 1 if delta > 0 else -1
    for _ in range(abs(delta)):
        keys = [k for k, v in values.items() if (v < hi[k] if step > 0 else v > lo)]
        if not keys:
            return
        values[rng.choices(keys, weights=[weights[k] for k in keys])[0]] += step


def _established(rng: random.Random) -> date:
    # Few survive from the first wave after the 1997 law; most registered or re-registered after the 2012 law.
    years = [(y, 1 if y < 2005 else 2 if y < 2013 else 5 if y < 2021 else 3) for y in range(1998, 2023)]
    return date(_pick(rng, years), 1, 1) + timedelta(days=rng.randrange(365))


def _skeletons(rng: random.Random) -> list[Draft]:
    drafts: list[Draft] = []
    for district in DISTRICTS:
        for _ in range(district.cooperatives):
            sector = _pick(rng, district.sectors)
            crop = {S.aquaculture: "fish", S.livestock: "livestock", S.mixed: "mixed"}.get(sector)
            drafts.append(
                Draft(
                    index=len(drafts),
                    district=district,
                    commune=rng.choice(district.communes),
                    sector=sector,
                    crop=crop or _pick(rng, district.crops),
                    established=_established(rng),
                    strength=rng.gauss(0, 1),
                )
            )
    return drafts


def _status_and_models(rng: random.Random, drafts: list[Draft]) -> None:
    models: list[Draft] = []
    for district in DISTRICTS:
        if district.code not in NO_MODEL_DISTRICTS:
            best = max((d for d in drafts if d.district is district), key=lambda d: d.strength)
            best.strength = max(best.strength, 1.8) + rng.uniform(0, 0.4)  # a model is big and well run
            models.append(best)
    models.sort(key=lambda d: -d.strength)
    for rank, coop in enumerate(models):
        coop.model_from = next(t for t, count in enumerate(MODELS) if count > rank)
    # The weakest third supplies those that stopped: suspended after 2024, dissolved after 2023.
    weak = sorted((d for d in drafts if d.model_from is None), key=lambda d: d.strength)[: len(drafts) // 3]
    statuses = [s for s, n in STATUS_COUNTS.items() for _ in range(n)]
    for coop, status in zip(rng.sample(weak, len(statuses)), statuses, strict=True):
        coop.legal_status = status
        coop.last = rng.choice((3, 4) if status == LegalStatus.suspended else (1, 2))


def _members(rng: random.Random, drafts: list[Draft]) -> None:
    """2,950 members at the 2023 baseline; the active cooperatives then grow along MEMBER_GROWTH."""
    big = {d.index: 1.8 if d.model_from is not None else 1.0 for d in drafts}  # a model has many members
    raw = {d.index: rng.lognormvariate(math.log(15), 0.55) * math.exp(0.25 * d.strength) * big[d.index] for d in drafts}
    scale = BASELINE_MEMBERS / sum(raw.values())
    base = {k: max(MIN_MEMBERS, round(r * scale)) for k, r in raw.items()}
    weights = {d.index: base[d.index] * math.exp(0.3 * d.strength) for d in drafts}
    no_cap = {k: 10**6 for k in base}
    _shift(rng, base, BASELINE_MEMBERS - sum(base.values()), weights, lo=MIN_MEMBERS, hi=no_cap)
    for d in drafts:
        d.members = [base[d.index]] * len(PERIODS)  # those that stop keep their size while they report
        d.associate_ratio = rng.uniform(0.0, 0.35)
    active = [d for d in drafts if d.active]
    active_base = sum(base[d.index] for d in active)
    previous = {d.index: base[d.index] for d in active}
    for t in (BASELINE - 1, *range(BASELINE + 1, len(PERIODS))):
        state = {d.index: base[d.index] for d in active} if t < BASELINE else dict(previous)
        if t > BASELINE:
            for key in state:  # every half-year a few members leave, and more join
                if rng.random() < 0.1:
                    state[key] = max(MIN_MEMBERS, state[key] - rng.randint(1, 2))
        _shift(
            rng, state, round(active_base * MEMBER_GROWTH[t]) - sum(state.values()), weights, lo=MIN_MEMBERS, hi=no_cap
        )
        for d in active:
            d.members[t] = state[d.index]
        if t > BASELINE:
            previous = state


def _land_and_money(rng: random.Random, drafts: list[Draft]) -> None:
    """Farmland follows members; revenue and production value are drawn per cooperative and year, then each
    year is scaled so the active cooperatives' averages follow REVENUE_GROWTH and VALUE_PER_HA_GROWTH."""
    active = [d for d in drafts if d.active]
    years = sorted(REVENUE_GROWTH)
    revenue: dict[int, dict[int, float]] = {}  # cooperative → year → annual figure (2022 too, for 2023-H1)
    production: dict[int, dict[int, float]] = {}
    for d in drafts:
        crop = CROPS[d.crop]
        ha = d.members[BASELINE] * crop.ha_per_member * rng.lognormvariate(0, 0.35)
        d.farmland = [max(0.5, ha * (m / d.members[BASELINE]) ** 0.7) for m in d.members]
        per_ha = crop.revenue_per_ha * (SERVICE_REVENUE if d.sector == S.agricultural_services else 1.0)
        r0 = max(120e6, ha * per_ha * math.exp(0.3 * d.strength + rng.gauss(0, 0.25)))
        v0 = ha * crop.value_per_ha * math.exp(0.1 * d.strength + rng.gauss(0, 0.15))
        revenue[d.index] = {2022: r0 / rng.uniform(1.0, 1.12), 2023: r0}
        production[d.index] = {2022: v0 / rng.uniform(0.98, 1.06), 2023: v0}
        for year in years[1:]:
            grow_r, grow_v = (rng.gauss(1.115, 0.08), rng.gauss(1.03, 0.05)) if d.active else (0.8, 0.9)
            revenue[d.index][year] = revenue[d.index][year - 1] * max(0.6, grow_r)
            production[d.index][year] = production[d.index][year - 1] * max(0.7, grow_v)
    base_revenue = sum(revenue[d.index][2023] for d in active)
    base_ratio = sum(production[d.index][2023] for d in active) / sum(d.farmland[BASELINE] for d in active)
    for year in years[1:]:
        land = sum(d.farmland[ANNUAL.get(year, len(PERIODS) - 1)] for d in active)
        k = REVENUE_GROWTH[year] * base_revenue / sum(revenue[d.index][year] for d in active)
        j = VALUE_PER_HA_GROWTH[year] * base_ratio * land / sum(production[d.index][year] for d in active)
        for d in active:
            revenue[d.index][year] *= k
            production[d.index][year] *= j
    for d in drafts:
        rev, val = revenue[d.index], production[d.index]
        for t, period in enumerate(PERIODS):
            # A report covers the 12 months to its as_of: at 30 June, last year's second half and this first half.
            h, g = (rng.uniform(0.40, 0.50), rng.uniform(0.42, 0.55)) if period.half else (1.0, 1.0)
            d.revenue[t] = _round_to(rev[period.year - 1] * (1 - h) + rev[period.year] * h, 1_000_000)
            d.production[t] = _round_to(val[period.year - 1] * (1 - g) + val[period.year] * g, 1_000_000)


def _capital(rng: random.Random, drafts: list[Draft]) -> None:
    """180 billion VND at the 2023 baseline, in round tens of millions; some cooperatives raise it later."""
    raw = [d.members[BASELINE] * rng.lognormvariate(math.log(55e6), 0.5) * math.exp(0.25 * d.strength) for d in drafts]
    scale = BASELINE_CAPITAL_VND / sum(raw)
    base = [_round_to(r * scale, 10_000_000) for r in raw]
    largest = max(range(len(base)), key=base.__getitem__)
    base[largest] += round((BASELINE_CAPITAL_VND - sum(base)) / 10_000_000) * 10_000_000
    for d, capital in zip(drafts, base, strict=True):
        d.capital = [capital] * len(PERIODS)
        if rng.random() < 0.1:  # raised in the second half of 2023
            d.capital[0] = _round_to(capital / rng.uniform(1.05, 1.15), 10_000_000)
        for t in range(BASELINE + 1, len(PERIODS)):
            raised = d.active and rng.random() < 0.18  # members contribute more [nâng mức vốn góp]
            d.capital[t] = _round_to(d.capital[t - 1] * (rng.uniform(1.05, 1.25) if raised else 1.0), 10_000_000)


def _classifications(rng: random.Random, drafts: list[Draft]) -> None:
    """Yearly classification [xếp loại]: the share fair or better follows FAIR_OR_BETTER; models are good; one
    established during the year is not yet classified; one about to stop is weak."""
    for year, share in FAIR_OR_BETTER.items():
        t = ANNUAL.get(year, 0)  # the 2022 classification is what the 2023-H1 reports carry
        population = [d for d in drafts if d.reports_in(t)]
        score = {d.index: d.strength + rng.gauss(0, 0.35) for d in population}
        models = [d for d in population if d.is_model(t)]
        unrated = [d for d in population if d.established.year >= year and d not in models]
        failing = [d for d in population if not d.active and d.last <= t + 1]
        ranked = sorted(
            (d for d in population if d not in models and d not in unrated and d not in failing),
            key=lambda d: -score[d.index],
        )
        n = max(0, round(share * len(population)) - len(models))
        better, rest = models + ranked[:n], ranked[n:]
        for i, d in enumerate(better):
            good = d in models or i < 0.35 * len(better)
            d.classification[year] = Classification.good if good else Classification.fair
        for i, d in enumerate(rest):
            d.classification[year] = Classification.weak if i >= 0.78 * len(rest) else Classification.average
        for d in unrated:
            d.classification[year] = Classification.unrated
        for d in failing:
            d.classification[year] = Classification.weak


def _practices(rng: random.Random, drafts: list[Draft]) -> None:
    """Enterprise links, high technology / GAP, e-commerce, OCOP products. Each cooperative has a fixed
    propensity, so the sets grow nested over time; models are always linked with an enterprise."""
    bonus = {
        "enterprise_linked": {"rice": 0.2},
        "high_tech_or_gap": {"vegetables": 0.5, "fruit": 0.3, "fish": 0.2},
        "ecommerce": {"fruit": 0.6, "vegetables": 0.5, "mixed": 0.6, "rice": -0.3},
    }
    for name, shares in SHARES.items():
        score = {d.index: 0.7 * d.strength + bonus[name].get(d.crop, 0.0) + rng.gauss(0, 0.7) for d in drafts}
        ranked = sorted(drafts, key=lambda d: -score[d.index])
        for d in drafts:
            d.flags[name] = [False] * len(PERIODS)
        for t, share in enumerate(shares):
            population = [d for d in ranked if d.reports_in(t)]
            forced = [d for d in population if name == "enterprise_linked" and d.is_model(t)]
            others = [d for d in population if d not in forced]
            for d in forced + others[: max(0, round(share * len(population)) - len(forced))]:
                d.flags[name][t] = True
    for d in drafts:
        potential = _pick(rng, ((0, 2), (1, 4), (2, 2), (3, 1)) if d.strength > 0.8 else ((0, 20), (1, 3), (2, 1)))
        since = rng.randrange(len(PERIODS))
        d.ocop = [potential if t >= since else 0 for t in range(len(PERIODS))]


def _managers(rng: random.Random, drafts: list[Draft]) -> None:
    """Board of directors, management and supervisory board: 3–9 people. The trained share of all managers
    follows TRAINED_SHARE; a trained manager stays trained."""
    for d in drafts:
        d.managers_total = _pick(rng, ((3, 10), (4, 15), (5, 30), (6, 15), (7, 15), (8, 8), (9, 7)))
        d.managers_female = sum(rng.random() < 0.27 for _ in range(d.managers_total))
        young = sum(rng.random() < 0.11 for _ in range(d.managers_total))
        for t in range(len(PERIODS)):
            if t and rng.random() < 0.06:
                young = min(d.managers_total, young + 1)
            d.under_35[t] = young
    weights = {d.index: math.exp(0.6 * d.strength) for d in drafts}
    trained = {d.index: 0 for d in drafts}
    for t, share in enumerate(TRAINED_SHARE):
        population = [d for d in drafts if d.reports_in(t)]
        current = {d.index: trained[d.index] for d in population}
        target = round(share * sum(d.managers_total for d in population))
        room = {d.index: d.managers_total for d in population}
        _shift(rng, current, max(0, target - sum(current.values())), weights, lo=0, hi=room)
        for d in population:
            d.trained[t] = trained[d.index] = current[d.index]
