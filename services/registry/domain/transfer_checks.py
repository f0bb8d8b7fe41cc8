"""Checking an import file's rows before anything is written (pure code: it runs in a worker thread).

Headers are matched to the column table without regard to case or diacritics; each cell is read as its
column's kind; each row is validated with the models the API uses (CooperativeCreate for a new code,
CooperativeUpdate for a known one, StatusReportCreate when the status cells are filled). Every problem becomes
a :class:`RowError` pointing at the sheet's row (header = row 1) and the Vietnamese column, with the message
in Vietnamese and English; :func:`refusal` turns them into the one 422 answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.registry.domain.inputs import (
    REGISTRATION_CODE,
    CooperativeCreate,
    CooperativeUpdate,
    StatusReportCreate,
)
from services.registry.domain.transfer_columns import BY_FIELD, BY_HEADER, COLUMNS, CellError, Column, Part
from services.registry.domain.transfer_files import Sheet, read_sheet
from services.registry.domain.vietnamese import fold, normalise_name
from shared.errors import ValidationFailed

MAX_LISTED_ERRORS = 500
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class RowError:
    row: int | None
    column: str | None
    field: str | None
    message_vi: str
    message: str
    code: str = "invalid"


@dataclass
class RowInput:
    row: int
    code: str | None
    profile: dict[str, Any]  # the columns present; a blank non-nullable cell is left out
    status: dict[str, Any] | None  # None when every status cell is blank


@dataclass
class Parsed:
    rows: list[RowInput]
    errors: list[RowError] = field(default_factory=list)


def parse_sheet(sheet: Sheet) -> Parsed:
    columns, errors = _map_headers(sheet.headers)
    if errors:
        return Parsed([], errors)
    parsed = Parsed([])
    first_row: dict[str, int] = {}
    code_column = BY_FIELD["registration_code"]
    for number, cells in sheet.rows:
        row = RowInput(number, None, {}, {})
        for index, column in columns:
            try:
                value = column.parse(cells[index] if index < len(cells) else None)
            except CellError as exc:
                parsed.errors.append(RowError(number, column.header, column.field, exc.message_vi, exc.message))
                continue
            if column.part is Part.status:
                if value is not None:
                    assert row.status is not None
                    row.status[column.field] = value
            elif value is not None or column.nullable:
                row.profile[column.field] = value
        row.status = row.status or None
        row.code = row.profile.pop("registration_code", None)
        if row.code is None:
            parsed.errors.append(row_error(number, code_column, "Thiếu mã số HTX", "registration code is missing"))
        elif not REGISTRATION_CODE.match(row.code):
            parsed.errors.append(
                row_error(
                    number,
                    code_column,
                    "Mã số HTX phải gồm 10 chữ số, chi nhánh thêm -NNN (ví dụ 1801234567-001)",
                    "must be 10 digits, optionally followed by -NNN for a branch",
                )
            )
        elif row.code in first_row:
            parsed.errors.append(
                row_error(
                    number,
                    code_column,
                    f"Mã số HTX {row.code} trùng với dòng {first_row[row.code]}",
                    f"registration code {row.code} is repeated (first on row {first_row[row.code]})",
                    "duplicate",
                )
            )
        else:
            first_row[row.code] = number
        parsed.rows.append(row)
    return parsed


def row_error(row: int | None, column: Column, message_vi: str, message: str, code: str = "invalid") -> RowError:
    return RowError(row, column.header, column.field, message_vi, message, code)


def _map_headers(headers: list[Any]) -> tuple[list[tuple[int, Column]], list[RowError]]:
    columns: list[tuple[int, Column]] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for index, raw in enumerate(headers):
        text = normalise_name(str(raw)) if raw is not None else ""
        if not text:
            continue  # an unnamed column (Excel leaves stray formatting): ignored
        column = BY_HEADER.get(fold(text))
        if column is None:
            errors.append(
                RowError(1, text, None, f"Cột '{text}' không được hỗ trợ", f"unknown column '{text}'", "unknown_column")
            )
        elif column.field in seen:
            errors.append(row_error(1, column, "Cột bị lặp lại", "the column appears twice", "duplicate_column"))
        else:
            seen.add(column.field)
            columns.append((index, column))
    has_status = any(c.part is Part.status for _, c in columns)
    for column in COLUMNS:
        if column.required and column.field not in seen and (column.part is Part.profile or has_status):
            errors.append(
                row_error(1, column, "Thiếu cột bắt buộc", "required column is missing", "missing_column"),
            )
    return columns, errors


@dataclass
class RowPlan:
    row: int
    code: str
    create: CooperativeCreate | None  # a new cooperative
    update: dict[str, Any]  # the profile fields given for a known one (typed)
    status: StatusReportCreate | None


def check_rows(
    rows: list[RowInput], known: dict[str, str], units: set[str], today: date
) -> tuple[list[RowPlan], list[RowError]]:
    """Validate with the API's models. `known` maps the registered codes to their current unit."""
    plans: list[RowPlan] = []
    errors: list[RowError] = []
    for row in rows:
        if row.code is None:
            continue
        row_errors: list[RowError] = []
        create = None
        update: dict[str, Any] = {}
        if row.code not in known:
            create = _validated(CooperativeCreate, {"registration_code": row.code, **row.profile}, row.row, row_errors)
        elif row.profile:
            model = _validated(CooperativeUpdate, row.profile, row.row, row_errors)
            update = model.model_dump(exclude_unset=True) if model is not None else {}
        unit = create.unit_code if create is not None else update.get("unit_code")
        if unit is not None and unit not in units and unit != known.get(row.code):
            row_errors.append(
                row_error(
                    row.row,
                    BY_FIELD["unit_code"],
                    f"Mã đơn vị hành chính '{unit}' không tồn tại",
                    f"unknown administrative unit '{unit}'",
                    "unknown_unit",
                )
            )
        founded = create.established_on if create is not None else update.get("established_on")
        if founded is not None and founded > today:
            row_errors.append(
                row_error(
                    row.row,
                    BY_FIELD["established_on"],
                    f"Ngày thành lập {founded:%d/%m/%Y} ở tương lai",
                    f"established_on must not be after {today.isoformat()}",
                )
            )
        status = None
        if row.status is not None:
            status = _validated(StatusReportCreate, row.status, row.row, row_errors)
            if status is not None and status.as_of > today:
                row_errors.append(
                    row_error(
                        row.row,
                        BY_FIELD["as_of"],
                        f"Ngày số liệu {status.as_of:%d/%m/%Y} ở tương lai",
                        f"as_of must not be after {today.isoformat()}",
                    )
                )
        errors.extend(row_errors)
        if not row_errors:
            plans.append(RowPlan(row.row, row.code, create, update, status))
    return plans, errors


def _validated(model: type[M], values: dict[str, Any], row: int, errors: list[RowError]) -> M | None:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            errors.append(_from_pydantic(row, err))
        return None


_VI_BY_TYPE = {
    "missing": "Thiếu giá trị bắt buộc",
    "string_too_short": "Quá ngắn (tối thiểu {min_length} ký tự)",
    "string_too_long": "Quá dài (tối đa {max_length} ký tự)",
    "string_pattern_mismatch": "Sai định dạng",
    "greater_than_equal": "Phải lớn hơn hoặc bằng {ge}",
    "less_than_equal": "Phải nhỏ hơn hoặc bằng {le}",
    "decimal_max_places": "Tối đa {decimal_places} chữ số thập phân",
    "decimal_max_digits": "Quá nhiều chữ số",
    "too_long": "Tối đa {max_length} mục",
}
_EXCEEDS = re.compile(r"^(\w+) cannot exceed managers_total \((\d+)\)")
_TOO_FAR = re.compile(r"^as_of (\S+) is too far from period (\S+)")


def _from_pydantic(row: int, err: Any) -> RowError:
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    loc = [str(part) for part in err.get("loc", ())]
    column = BY_FIELD.get(loc[0]) if loc else None
    template = _VI_BY_TYPE.get(err.get("type", ""), "Giá trị không hợp lệ")
    vi = template.format_map(defaultdict(str, err.get("ctx") or {}))
    if m := _EXCEEDS.match(message):  # a model-level rule: point at the column that broke it
        column = BY_FIELD.get(m[1])
        vi = f"Không được lớn hơn Tổng số cán bộ quản lý ({m[2]})"
    elif m := _TOO_FAR.match(message):
        column = BY_FIELD["as_of"]
        vi = f"Ngày số liệu cách quá xa kỳ báo cáo {m[2]}"
    elif loc and loc[0] == "period":
        vi = "Kỳ báo cáo phải có dạng 2025-H1, 2025-H2 hoặc 2025"
    if column is None:
        return RowError(row, None, None, vi, message)
    return RowError(row, column.header, column.field, vi, message)


def read_and_parse(data: bytes, filename: str | None, content_type: str | None, max_rows: int) -> Parsed:
    parsed = parse_sheet(read_sheet(data, filename, content_type, max_rows))
    if any(e.row == 1 for e in parsed.errors):
        raise refusal(parsed.errors)  # without the right headers no row can be read
    return parsed


def refusal(errors: list[RowError]) -> ValidationFailed:
    # One message per cell: a cell that could not be read is not reported again as "missing" by the model.
    unique = {(e.row, e.field or e.column or e.message): e for e in reversed(errors)}
    errors = sorted(unique.values(), key=lambda e: (e.row or 0, _column_order(e.column)))
    bad_rows = len({e.row for e in errors})
    return ValidationFailed(
        f"{bad_rows} dòng có lỗi; không có dữ liệu nào được ghi ({bad_rows} row(s) with errors; nothing was written)",
        errors=[asdict(e) for e in errors[:MAX_LISTED_ERRORS]],
        error_count=len(errors),
    )


def _column_order(header: str | None) -> int:
    column = BY_HEADER.get(fold(header)) if header else None
    return COLUMNS.index(column) if column is not None else -1
