"""The import/export sheet: its Vietnamese columns, and how one cell is read from and written to a file.

One table (:data:`COLUMNS`) says, for each column, its header, the API field it fills, whether it belongs to
the cooperative's profile or to its latest status report, and its kind. The kind decides what a cell may
hold: an enum as the English code or the Vietnamese label (diacritics and case ignored), a boolean as
có/không, x/blank, true/false or 1/0, a list separated by ``;``, a date as dd/mm/yyyy or yyyy-mm-dd (or an
XLSX date cell), money and counts as integers (thousands separators ``.``/``,``/space accepted only in the
unambiguous form 1.200.000), an area with ``.`` or ``,`` as the decimal separator.

Export writes what import reads back to the same values: Vietnamese labels, có/không, dd/mm/yyyy, plain
integers, areas with ``.``. Text a spreadsheet would evaluate (OWASP "CSV injection": a cell starting with
``=`` ``+`` ``-`` ``@``, also after leading spaces or in their full-width forms, or with a tab or CR) is
written to CSV behind a ``'``, which import removes again; numbers are written as numbers, never guarded.
XLSX writes such text as a string cell. Characters no sheet can hold (see ``shared.text.printable``) become
U+FFFD in both, so a value stored before the input rules cannot break an export.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from functools import cached_property
from typing import Any

from services.registry.domain.vietnamese import fold
from shared.events.contracts import Classification, LegalStatus, Sector
from shared.text import printable


class Part(StrEnum):
    profile = "profile"  # the cooperative itself (CooperativeCreate / CooperativeUpdate)
    status = "status"  # its latest status report (StatusReportCreate)


class Kind(StrEnum):
    text = "text"
    enum = "enum"
    date = "date"
    boolean = "boolean"
    items = "items"  # a list, "; " between items
    integer = "integer"  # VND amounts and head counts
    area = "area"  # hectares, two decimals


class CellError(ValueError):
    """A cell that cannot be read as its column's kind; carries the message in both languages."""

    def __init__(self, message_vi: str, message: str) -> None:
        super().__init__(message)
        self.message_vi = message_vi
        self.message = message


SECTOR_LABELS = {
    Sector.cultivation: "trồng trọt",
    Sector.livestock: "chăn nuôi",
    Sector.aquaculture: "thủy sản",
    Sector.forestry: "lâm nghiệp",
    Sector.agricultural_services: "dịch vụ nông nghiệp",
    Sector.salt: "diêm nghiệp",
    Sector.mixed: "tổng hợp",
}
CLASSIFICATION_LABELS = {
    Classification.good: "tốt",
    Classification.fair: "khá",
    Classification.average: "trung bình",
    Classification.weak: "yếu",
    Classification.unrated: "chưa xếp loại",
}
LEGAL_STATUS_LABELS = {
    LegalStatus.active: "đang hoạt động",
    LegalStatus.suspended: "tạm ngừng",
    LegalStatus.dissolved: "giải thể",
}
# Other spellings agencies use in their own sheets.
ALIASES = {
    "nuôi trồng thủy sản": Sector.aquaculture,
    "dịch vụ": Sector.agricultural_services,
    "muối": Sector.salt,
    "hoạt động": LegalStatus.active,
    "tạm ngừng hoạt động": LegalStatus.suspended,
    "đã giải thể": LegalStatus.dissolved,
}

TRUE_WORDS = {"co", "x", "true", "1", "yes", "dung"}
FALSE_WORDS = {"khong", "false", "0", "no", "sai"}
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")
_GROUPED = re.compile(r"^\d{1,3}(?:[., \u00a0\u202f]\d{3})+$")
_EVALUATED = re.compile(r"^(?:[\t\r]|\s*[=+\-@\uff1d\uff0b\uff0d\uff20])")


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    part: Part
    kind: Kind = Kind.text
    labels: Mapping[Any, str] = dataclasses.field(default_factory=dict, compare=False)
    required: bool = False  # the header must be present (status headers: all of them, or none)
    nullable: bool = True  # profile only: a blank cell clears the field; otherwise blank leaves it as it is

    @cached_property
    def accepted(self) -> dict[str, str]:
        """Folded code, label or alias → code."""
        table = {fold(str(code)): str(code) for code in self.labels}
        table.update({fold(label): str(code) for code, label in self.labels.items()})
        table.update({fold(alias): str(code) for alias, code in ALIASES.items() if code in self.labels})
        return table

    # -- reading ----------------------------------------------------------------------------------------

    def parse(self, raw: object) -> Any:
        """The cell as a typed value, or None when blank. Raises CellError."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        match self.kind:
            case Kind.text:
                return _text(raw)
            case Kind.enum:
                code = self.accepted.get(fold(_text(raw)))
                if code is None:
                    labels = ", ".join(self.labels.values())
                    raise CellError(f"Giá trị không hợp lệ; dùng một trong: {labels}", f"unknown value; use: {labels}")
                return code
            case Kind.date:
                return _date(raw)
            case Kind.boolean:
                return _boolean(raw)
            case Kind.items:
                return [item.strip() for item in _text(raw).split(";") if item.strip()]
            case Kind.integer:
                return _integer(raw)
            case Kind.area:
                return _area(raw)
        raise AssertionError(self.kind)

    # -- writing ----------------------------------------------------------------------------------------

    def xlsx_value(self, value: Any) -> Any:
        """Dates and numbers stay native (a date cell, a number cell); everything else is text."""
        if value is None:
            return None
        match self.kind:
            case Kind.enum:
                return self.labels[_code(value)]
            case Kind.boolean:
                return "có" if value else "không"
            case Kind.items:
                return printable("; ".join(value))
            case Kind.date | Kind.integer | Kind.area:
                return value
        return printable(str(value))

    def csv_text(self, value: Any) -> str:
        cell = self.xlsx_value(value)
        if cell is None:
            return ""
        if isinstance(cell, date):
            return f"{cell:%d/%m/%Y}"
        if isinstance(cell, Decimal):
            return f"{cell:f}"
        text = str(cell)
        return "'" + text if isinstance(cell, str) and _EVALUATED.match(text) else text


def _code(value: Any) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def _text(raw: object) -> str:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # 1801234567 typed as a number in Excel
    if isinstance(raw, datetime | date):
        raise CellError("Cần văn bản, không phải ngày", "expected text, not a date")
    text = str(raw).strip()
    if text.startswith("'") and _EVALUATED.match(text[1:]):
        text = text[1:].strip()  # our own formula guard (see the module docstring)
    return text


def _date(raw: object) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    try:
        if m := _DMY.match(text):
            return date(int(m[3]), int(m[2]), int(m[1]))
        if m := _YMD.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        pass
    raise CellError("Ngày không hợp lệ (dd/mm/yyyy)", "invalid date (use dd/mm/yyyy or yyyy-mm-dd)")


def _boolean(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    word = fold(str(int(raw) if isinstance(raw, float) and raw.is_integer() else raw))
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CellError("Giá trị có/không không hợp lệ (có, không, x, 1, 0)", "invalid yes/no value (có, không, x, 1, 0)")


def _integer(raw: object) -> int:
    if isinstance(raw, bool):
        raise CellError("Cần một số nguyên", "expected an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    text = str(raw).strip()
    if text.isdigit():
        return int(text)
    if _GROUPED.match(text):
        return int(re.sub(r"\D", "", text))
    raise CellError(
        "Cần một số nguyên không âm, ví dụ 1200000000 hoặc 1.200.000.000",
        "expected a non-negative integer, e.g. 1200000000 or 1.200.000.000",
    )


def _area(raw: object) -> Decimal:
    if isinstance(raw, bool):
        raise CellError("Cần một số", "expected a number")
    if isinstance(raw, int | Decimal):
        return Decimal(raw)
    text = str(raw).strip().replace(" ", "")
    if "," in text and "." in text:  # 1.234,5 or 1,234.5: the last one is the decimal separator
        decimal_sep = "," if text.rfind(",") > text.rfind(".") else "."
        text = text.replace("." if decimal_sep == "," else ",", "")
    text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise CellError("Cần một số, ví dụ 85,5 hoặc 85.5", "expected a number, e.g. 85.5 or 85,5")
    return value


def _profile(header: str, name: str, kind: Kind = Kind.text, **kw: Any) -> Column:
    return Column(header, name, Part.profile, kind, **kw)


def _status(header: str, name: str, kind: Kind, **kw: Any) -> Column:
    return Column(header, name, Part.status, kind, required=True, **kw)


COLUMNS: tuple[Column, ...] = (
    _profile("Mã số HTX", "registration_code", required=True, nullable=False),
    _profile("Tên HTX", "name", required=True, nullable=False),
    _profile("Mã đơn vị hành chính", "unit_code", required=True, nullable=False),
    _profile("Địa chỉ", "address"),
    _profile("Lĩnh vực", "sector", Kind.enum, labels=SECTOR_LABELS, required=True, nullable=False),
    _profile("Ngày thành lập", "established_on", Kind.date),
    _profile("Tình trạng pháp lý", "legal_status", Kind.enum, labels=LEGAL_STATUS_LABELS, nullable=False),
    _profile("Người liên hệ", "contact_name"),
    _profile("Điện thoại", "contact_phone"),
    _profile("Email", "contact_email"),
    _status("Ngày số liệu", "as_of", Kind.date),
    _status("Kỳ báo cáo", "period", Kind.text),
    _status("Thành viên chính thức", "members_official", Kind.integer),
    _status("Thành viên liên kết", "members_associate", Kind.integer),
    _status("Vốn điều lệ (VND)", "charter_capital_vnd", Kind.integer),
    _status("Doanh thu 12 tháng (VND)", "revenue_vnd", Kind.integer),
    _status("Diện tích đất (ha)", "farmland_ha", Kind.area),
    _status("Giá trị sản xuất (VND)", "production_value_vnd", Kind.integer),
    _status("Xếp loại", "classification", Kind.enum, labels=CLASSIFICATION_LABELS),
    _status("Mô hình điểm", "is_model", Kind.boolean),
    _status("Liên kết doanh nghiệp", "enterprise_linked", Kind.boolean),
    _status("Doanh nghiệp liên kết", "enterprise_partners", Kind.items),
    _status("Công nghệ cao/GAP", "high_tech_or_gap", Kind.boolean),
    _status("Chứng nhận", "certifications", Kind.items),
    _status("Thương mại điện tử", "ecommerce", Kind.boolean),
    _status("Sàn TMĐT", "ecommerce_platforms", Kind.items),
    _status("Sản phẩm OCOP", "ocop_products", Kind.integer),
    _status("Tổng số cán bộ quản lý", "managers_total", Kind.integer),
    _status("Cán bộ đã qua đào tạo", "managers_trained", Kind.integer),
    _status("Cán bộ nữ", "managers_female", Kind.integer),
    _status("Cán bộ dưới 35 tuổi", "managers_under_35", Kind.integer),
)
HEADERS = tuple(c.header for c in COLUMNS)
BY_FIELD = {c.field: c for c in COLUMNS}
# A header is recognised without regard to case, diacritics or spacing, or by its API field name.
BY_HEADER = {**{fold(c.header): c for c in COLUMNS}, **{c.field: c for c in COLUMNS}}
