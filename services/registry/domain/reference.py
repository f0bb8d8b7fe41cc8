"""Reference data seeded at start-up: Cần Thơ's administrative units and the agencies of plan 219.

Codes are the official administrative codes (Quyết định 124/2004/QĐ-TTg and amendments): city 92, districts
916–927. The district level was abolished on 1 July 2025; the hierarchy is data, so a reorganisation is added
as new rows with their own validity, never by rewriting these (see docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

CITY = "92"
UNITS_VALID_FROM = date(2009, 1, 1)  # the nine districts as they stood since Thới Lai was created (2008/2009)


@dataclass(frozen=True)
class UnitSeed:
    code: str
    name: str
    level: str
    parent_code: str | None


@dataclass(frozen=True)
class AgencySeed:
    code: str
    name: str
    kind: str
    jurisdiction_unit_code: str
    writes_registry: bool


UNITS: tuple[UnitSeed, ...] = (
    UnitSeed(CITY, "Thành phố Cần Thơ", "city", None),
    UnitSeed("916", "Quận Ninh Kiều", "urban_district", CITY),
    UnitSeed("917", "Quận Ô Môn", "urban_district", CITY),
    UnitSeed("918", "Quận Bình Thủy", "urban_district", CITY),
    UnitSeed("919", "Quận Cái Răng", "urban_district", CITY),
    UnitSeed("923", "Quận Thốt Nốt", "urban_district", CITY),
    UnitSeed("924", "Huyện Vĩnh Thạnh", "rural_district", CITY),
    UnitSeed("925", "Huyện Cờ Đỏ", "rural_district", CITY),
    UnitSeed("926", "Huyện Phong Điền", "rural_district", CITY),
    UnitSeed("927", "Huyện Thới Lai", "rural_district", CITY),
)
DISTRICTS = tuple(u for u in UNITS if u.parent_code == CITY)

AGENCIES: tuple[AgencySeed, ...] = (
    AgencySeed("SNN", "Sở Nông nghiệp và Phát triển nông thôn", "department", CITY, True),
    AgencySeed("SKHDT", "Sở Kế hoạch và Đầu tư", "department", CITY, False),
    AgencySeed("STC", "Sở Tài chính", "department", CITY, False),
    AgencySeed("SCT", "Sở Công Thương", "department", CITY, False),
    AgencySeed("LMHTX", "Liên minh Hợp tác xã thành phố", "alliance", CITY, False),
    AgencySeed("MTTQ", "Ủy ban Mặt trận Tổ quốc Việt Nam thành phố và các đoàn thể", "front", CITY, False),
    *(
        AgencySeed(
            f"UBND-{u.code}", f"Ủy ban nhân dân {u.name[0].lower()}{u.name[1:]}", "district_committee", u.code, True
        )
        for u in DISTRICTS
    ),
)
