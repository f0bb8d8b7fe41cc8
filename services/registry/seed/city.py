"""The demo city: Cần Thơ's districts, communes, crops and the trends the demo registry follows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.events.contracts import LegalStatus, Sector

DEFAULT_SEED = 219

BASELINE_MEMBERS = 2_950
BASELINE_CAPITAL_VND = 180_000_000_000
MIN_MEMBERS = 7  # the minimum of official members under the 2012 Cooperative Law


# -- the shape of the city --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    name: str
    as_of: date
    year: int
    half: bool  # a semi-annual (H1) report rather than the annual one


PERIODS = (
    Period("2023-H1", date(2023, 6, 30), 2023, True),
    Period("2023", date(2023, 12, 31), 2023, False),
    Period("2024-H1", date(2024, 6, 30), 2024, True),
    Period("2024", date(2024, 12, 31), 2024, False),
    Period("2025-H1", date(2025, 6, 30), 2025, True),
    Period("2025", date(2025, 12, 31), 2025, False),
    Period("2026-H1", date(2026, 6, 30), 2026, True),
)
BASELINE = 1  # index of the 2023 annual report in PERIODS
ANNUAL = {p.year: i for i, p in enumerate(PERIODS) if not p.half}


@dataclass(frozen=True)
class District:
    code: str
    name: str
    kind: str  # "quận" (urban) or "huyện" (rural)
    cooperatives: int
    communes: tuple[tuple[str, str], ...]  # (xã | phường | thị trấn, name)
    sectors: tuple[tuple[Sector, int], ...]  # weights
    crops: tuple[tuple[str, int], ...]  # what cultivation there grows, weights


def _units(kind: str, *names: str) -> tuple[tuple[str, str], ...]:
    return tuple((kind, n) for n in names)


S = Sector
_URBAN = ((S.cultivation, 46), (S.mixed, 20), (S.agricultural_services, 16), (S.aquaculture, 10), (S.livestock, 4))
_RICE = ((S.cultivation, 58), (S.agricultural_services, 24), (S.aquaculture, 9), (S.livestock, 3), (S.mixed, 4))
_ORCHARD = ((S.cultivation, 55), (S.mixed, 18), (S.agricultural_services, 11), (S.aquaculture, 8), (S.livestock, 4))

DISTRICTS: tuple[District, ...] = (
    District(
        "916", "Ninh Kiều", "quận", 4, _units("phường", "An Bình", "Hưng Lợi", "An Khánh", "Cái Khế", "Thới Bình"),
        _URBAN, (("fruit", 5), ("vegetables", 5)),
    ),
    District(
        "917", "Ô Môn", "quận", 18,
        _units("phường", "Châu Văn Liêm", "Thới Hòa", "Thới Long", "Long Hưng", "Thới An", "Phước Thới", "Trường Lạc"),
        _RICE, (("rice", 6), ("fruit", 3), ("vegetables", 1)),
    ),
    District(
        "918", "Bình Thủy", "quận", 9,
        _units("phường", "Long Hòa", "Long Tuyền", "Thới An Đông", "Trà An", "Bình Thủy", "An Thới"),
        _URBAN, (("fruit", 5), ("vegetables", 4), ("rice", 1)),
    ),
    District(
        "919", "Cái Răng", "quận", 8,
        _units("phường", "Thường Thạnh", "Phú Thứ", "Tân Phú", "Ba Láng", "Hưng Thạnh", "Hưng Phú"),
        _URBAN, (("fruit", 5), ("vegetables", 4), ("rice", 1)),
    ),
    District(
        "923", "Thốt Nốt", "quận", 20,
        _units(
            "phường", "Tân Lộc", "Thới Thuận", "Thuận Hưng", "Trung Kiên", "Trung Nhứt", "Thạnh Hòa", "Tân Hưng",
            "Thuận An",
        ),
        _RICE, (("rice", 6), ("fruit", 3), ("vegetables", 1)),
    ),
    District(
        "924", "Vĩnh Thạnh", "huyện", 26,
        _units(
            "xã", "Thạnh Tiến", "Thạnh Thắng", "Thạnh Lợi", "Thạnh Quới", "Thạnh Lộc", "Thạnh Mỹ", "Vĩnh Trinh",
            "Vĩnh Bình", "Thạnh An",
        )
        + _units("thị trấn", "Vĩnh Thạnh"),
        _RICE, (("rice", 9), ("fruit", 1)),
    ),
    District(
        "925", "Cờ Đỏ", "huyện", 26,
        _units(
            "xã", "Thới Hưng", "Trung An", "Trung Thạnh", "Trung Hưng", "Thạnh Phú", "Đông Hiệp", "Đông Thắng",
            "Thới Đông", "Thới Xuân",
        )
        + _units("thị trấn", "Cờ Đỏ"),
        _RICE, (("rice", 8), ("fruit", 1), ("vegetables", 1)),
    ),
    District(
        "926", "Phong Điền", "huyện", 22,
        _units("xã", "Mỹ Khánh", "Nhơn Ái", "Giai Xuân", "Tân Thới", "Trường Long", "Nhơn Nghĩa")
        + _units("thị trấn", "Phong Điền"),
        _ORCHARD, (("fruit", 7), ("vegetables", 2), ("rice", 1)),
    ),
    District(
        "927", "Thới Lai", "huyện", 22,
        _units(
            "xã", "Định Môn", "Trường Thành", "Trường Xuân", "Trường Xuân A", "Trường Xuân B", "Thới Thạnh",
            "Tân Thạnh", "Xuân Thắng", "Đông Bình", "Đông Thuận", "Trường Thắng",
        )
        + _units("thị trấn", "Thới Lai"),
        _RICE, (("rice", 6), ("fruit", 3), ("vegetables", 1)),
    ),
)  # fmt: skip
DISTRICT_BY_CODE = {d.code: d for d in DISTRICTS}
NO_MODEL_DISTRICTS = ("916", "918")  # III.3.a stays at risk: Ninh Kiều and Bình Thủy build no model


@dataclass(frozen=True)
class Crop:
    """What a cooperative's members produce: sizes and money per hectare (2023 prices), and how it is named."""

    ha_per_member: float
    value_per_ha: float  # production value, VND per hectare and year
    revenue_per_ha: float  # the cooperative's own revenue, VND per hectare of its members' land and year
    names: tuple[str, ...]
    certifications: tuple[str, ...]
    buyers: tuple[str, ...]  # the trade of an enterprise that buys from it


CROPS: dict[str, Crop] = {
    "rice": Crop(
        2.4, 115e6, 24e6, ("Nông nghiệp", "Lúa gạo", "Sản xuất lúa giống", "Nông nghiệp sạch"),
        ("VietGAP", "SRP (Lúa gạo bền vững)", "Hữu cơ"), ("Lương thực", "Gạo", "Nông sản"),
    ),
    "fruit": Crop(
        1.2, 320e6, 45e6, ("Trái cây", "Cây ăn trái", "Nông nghiệp", "Trái cây an toàn"),
        ("VietGAP", "GlobalGAP", "Hữu cơ"), ("Trái cây", "Xuất nhập khẩu Trái cây", "Nông sản"),
    ),
    "vegetables": Crop(
        0.45, 420e6, 90e6, ("Rau an toàn", "Nông nghiệp sạch", "Rau màu"),
        ("VietGAP", "Hữu cơ", "Nhà màng công nghệ cao"), ("Thực phẩm", "Nông sản sạch"),
    ),
    "fish": Crop(
        1.0, 800e6, 120e6, ("Thủy sản", "Nuôi trồng thủy sản"), ("VietGAP", "ASC"), ("Thủy sản", "Chế biến Thủy sản"),
    ),
    "livestock": Crop(
        0.3, 1_800e6, 400e6, ("Chăn nuôi", "Chăn nuôi và dịch vụ"), ("VietGAHP", "An toàn dịch bệnh"),
        ("Thực phẩm", "Chăn nuôi"),
    ),
    "mixed": Crop(
        0.9, 260e6, 80e6, ("Nông nghiệp tổng hợp", "Nông nghiệp và du lịch sinh thái"), ("VietGAP", "Hữu cơ"),
        ("Nông sản", "Du lịch Sinh thái"),
    ),
}  # fmt: skip
SERVICE_NAMES = ("Dịch vụ nông nghiệp", "Dịch vụ nông nghiệp tổng hợp", "Sản xuất, thương mại và dịch vụ nông nghiệp")
SERVICE_REVENUE = 2.2  # a service cooperative (inputs, ploughing, drying) turns over more per hectare
GOOD_WORDS = ("Tiến Phát", "Phú Thành", "Hưng Thịnh", "Thành Công", "Phát Đạt", "Thuận Phát", "Tân Tiến", "Hòa Bình")
BUYER_FORMS = ("Công ty TNHH", "Công ty Cổ phần")
BUYER_STEMS = ("Tây Đô", "Sông Hậu", "Phương Nam", "Mekong Xanh", "Cửu Long", "Miền Tây", "Phù Sa", "Nam Bộ")
PLATFORMS = ("Postmart", "Voso", "Shopee", "Lazada", "TikTok Shop")
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Phan", "Trương", "Đặng", "Bùi", "Dương", "Lâm", "Ngô")
MALE = (("Văn", "Minh", "Hoàng", "Thanh", "Quốc", "Hữu"), ("Ba", "Tư", "Hùng", "Dũng", "Phúc", "Hòa", "Tài", "Lộc"))
FEMALE = (("Thị", "Ngọc", "Kim", "Mỹ", "Thanh"), ("Lan", "Hoa", "Nhàn", "Tâm", "Thảo", "Hạnh", "Loan", "Phượng"))
HAMLET_PARTS = ("Hòa", "Bình", "Lợi", "Phú", "Long", "Hưng", "Thuận", "An", "Lộc", "Thành", "Quới", "Khánh", "Tân")
MOBILE_PREFIXES = ("91", "94", "88", "83", "90", "93", "89", "70", "79", "96", "97", "98", "86", "32", "36", "39")

# -- the trends (index = PERIODS) ---------------------------------------------------------------------------

FAIR_OR_BETTER = {2022: 0.39, 2023: 0.42, 2024: 0.55, 2025: 0.68}  # by classification year, all that report
SHARES: dict[str, tuple[float, ...]] = {
    "enterprise_linked": (0.19, 0.22, 0.25, 0.28, 0.30, 0.33, 0.34),
    "high_tech_or_gap": (0.12, 0.14, 0.18, 0.22, 0.26, 0.30, 0.31),
    "ecommerce": (0.06, 0.08, 0.12, 0.17, 0.23, 0.30, 0.32),
}
TRAINED_SHARE = (0.14, 0.15, 0.17, 0.20, 0.22, 0.25, 0.26)  # trained managers ÷ all managers
MODELS = (3, 3, 4, 5, 6, 7, 7)  # model cooperatives, city
MEMBER_GROWTH = (0.99, 1.00, 1.02, 1.04, 1.06, 1.08, 1.09)  # active cooperatives' members vs. 2023
REVENUE_GROWTH = {2023: 1.00, 2024: 1.12, 2025: 1.25, 2026: 1.31}  # average per active cooperative
VALUE_PER_HA_GROWTH = {2023: 1.000, 2024: 1.030, 2025: 1.065, 2026: 1.075}
STATUS_COUNTS = {LegalStatus.suspended: 5, LegalStatus.dissolved: 4}
