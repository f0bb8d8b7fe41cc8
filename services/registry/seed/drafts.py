"""What the demo generator produces, and a cooperative while it is being generated."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.registry.domain.inputs import CooperativeCreate, StatusReportCreate
from services.registry.seed.city import (
    PERIODS,
    District,
)
from shared.events.contracts import Classification, LegalStatus, Sector

# -- what the generator produces ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCooperative:
    data: CooperativeCreate
    reports: tuple[StatusReportCreate, ...]  # in chronological order


@dataclass(frozen=True)
class DemoRegistry:
    seed: int
    today: date
    cooperatives: tuple[DemoCooperative, ...]


@dataclass
class Draft:
    """One cooperative while it is being generated; lists are indexed like PERIODS."""

    index: int
    district: District
    commune: tuple[str, str]
    sector: Sector
    crop: str
    established: date
    strength: float  # latent quality: bigger, better rated, earlier adopter
    legal_status: LegalStatus = LegalStatus.active
    last: int = len(PERIODS) - 1  # index of its last report
    model_from: int | None = None
    members: list[int] = field(default_factory=lambda: [0] * len(PERIODS))
    associate_ratio: float = 0.0
    farmland: list[float] = field(default_factory=lambda: [0.0] * len(PERIODS))
    capital: list[int] = field(default_factory=lambda: [0] * len(PERIODS))
    revenue: list[int] = field(default_factory=lambda: [0] * len(PERIODS))
    production: list[int] = field(default_factory=lambda: [0] * len(PERIODS))
    classification: dict[int, Classification] = field(default_factory=dict)  # by classification year
    flags: dict[str, list[bool]] = field(default_factory=dict)
    ocop: list[int] = field(default_factory=lambda: [0] * len(PERIODS))
    managers_total: int = 5
    managers_female: int = 1
    trained: list[int] = field(default_factory=lambda: [0] * len(PERIODS))
    under_35: list[int] = field(default_factory=lambda: [0] * len(PERIODS))

    @property
    def active(self) -> bool:
        return self.legal_status == LegalStatus.active

    def reports_in(self, t: int) -> bool:
        return t <= self.last

    def is_model(self, t: int) -> bool:
        return self.model_from is not None and t >= self.model_from
