"""A generated cooperative written as the domain's inputs: names, people, addresses, its reports."""

from __future__ import annotations

import random
import unicodedata
from datetime import date
from decimal import Decimal

from services.registry.domain.inputs import CooperativeCreate, StatusReportCreate
from services.registry.seed.city import (
    BUYER_FORMS,
    BUYER_STEMS,
    CROPS,
    FEMALE,
    GOOD_WORDS,
    HAMLET_PARTS,
    MALE,
    MIN_MEMBERS,
    MOBILE_PREFIXES,
    PERIODS,
    PLATFORMS,
    SERVICE_NAMES,
    SHARES,
    SURNAMES,
    S,
)
from services.registry.seed.drafts import DemoCooperative, Draft

# -- rendering to the domain's inputs -----------------------------------------------------------------------


class Namer:
    """Keeps names and registration codes unique within one generated registry."""

    def __init__(self) -> None:
        self.names: dict[str, int] = {}
        self.codes: set[str] = set()

    def name(self, rng: random.Random, line: str, commune: str) -> str:
        roll = rng.random()
        place = commune if roll < 0.65 else rng.choice(GOOD_WORDS)
        place = f"{place} {commune}" if roll >= 0.9 else place
        key = f"{line} {place}".lower()
        self.names[key] = self.names.get(key, 0) + 1
        number = f" {self.names[key]}" if self.names[key] > 1 else ""  # "HTX Nông nghiệp Thạnh Phú 2"
        return unicodedata.normalize("NFC", f"{'Hợp tác xã' if rng.random() < 0.6 else 'HTX'} {line} {place}{number}")

    def code(self, rng: random.Random, established: date) -> str:
        # Mã số thuế with Cần Thơ's prefix 18; numbers were issued in order over the years.
        span = (established - date(1998, 1, 1)).days / (date(2023, 1, 1) - date(1998, 1, 1)).days
        number = 1_800_000_000 + round(span * 1_780_000) + rng.randrange(5_000)
        while str(number) in self.codes:
            number += 1
        self.codes.add(str(number))
        return str(number)


def _person(rng: random.Random) -> str:
    middles, givens = FEMALE if rng.random() < 0.2 else MALE
    return unicodedata.normalize("NFC", f"{rng.choice(SURNAMES)} {rng.choice(middles)} {rng.choice(givens)}")


def _address(rng: random.Random, d: Draft) -> str:
    kind, commune = d.commune
    if d.district.kind == "quận":
        place = f"Khu vực {rng.randint(1, 12)}"
    else:  # ấp names often share the commune's first word: Ấp Thạnh Hòa in xã Thạnh Lợi
        words = commune.split()
        part = rng.choice([p for p in HAMLET_PARTS if p not in words])
        place = f"Ấp {words[0]} {part}{rng.choice(('', '', ' A', ' B', ' 1', ' 2'))}"
    text = f"{place}, {kind} {commune}, {d.district.kind} {d.district.name}, TP. Cần Thơ"
    return unicodedata.normalize("NFC", text)


def render(rng: random.Random, namer: Namer, d: Draft, today: date) -> DemoCooperative:
    crop = CROPS[d.crop]
    line = rng.choice(SERVICE_NAMES if d.sector == S.agricultural_services else crop.names)
    phone = f"0{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10)} {rng.randrange(1000):03d} {rng.randrange(1000):03d}"
    data = CooperativeCreate(
        registration_code=namer.code(rng, d.established),
        name=namer.name(rng, line, d.commune[1]),
        unit_code=d.district.code,
        address=_address(rng, d),
        sector=d.sector,
        established_on=d.established,
        legal_status=d.legal_status,
        contact_name=_person(rng),
        contact_phone=phone,
    )
    buyers = [
        unicodedata.normalize("NFC", f"{rng.choice(BUYER_FORMS)} {rng.choice(crop.buyers)} {rng.choice(BUYER_STEMS)}")
        for _ in range(rng.choice((1, 1, 2)))
    ]
    certifications = rng.sample(crop.certifications, rng.choice((1, 1, 2)))
    platforms = rng.sample(PLATFORMS, 3)  # one platform first, more as the cooperative gets the hang of it
    reports: list[StatusReportCreate] = []
    for t, period in enumerate(PERIODS):
        if not d.reports_in(t) or period.as_of > today:
            continue
        linked, tech, online = (d.flags[name][t] for name in SHARES)
        selling_for = sum(d.flags["ecommerce"][: t + 1])
        official = max(MIN_MEMBERS, d.members[t] - round(d.members[t] * min(0.5, d.associate_ratio + 0.01 * t)))
        reports.append(
            StatusReportCreate(
                as_of=period.as_of,
                period=period.name,
                members_official=official,
                members_associate=d.members[t] - official,
                charter_capital_vnd=d.capital[t],
                revenue_vnd=d.revenue[t],
                farmland_ha=Decimal(f"{d.farmland[t]:.2f}"),
                production_value_vnd=d.production[t],
                classification=d.classification[period.year - 1 if period.half else period.year],
                is_model=d.is_model(t),
                enterprise_linked=linked,
                enterprise_partners=buyers if linked else [],
                high_tech_or_gap=tech,
                certifications=certifications if tech else [],
                ecommerce=online,
                ecommerce_platforms=platforms[: min(3, 1 + selling_for // 2)] if online else [],
                ocop_products=d.ocop[t],
                managers_total=d.managers_total,
                managers_trained=d.trained[t],
                managers_female=d.managers_female,
                managers_under_35=d.under_35[t],
            )
        )
    return DemoCooperative(data, tuple(reports))
