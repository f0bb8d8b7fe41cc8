"""The exchanged file itself: reading rows out of a CSV or XLSX upload, and writing the export.

What a cell means is the column table's business (transfer_columns); this module only knows file formats.
CSV is UTF-8 (a BOM is accepted, and written so Excel shows Vietnamese correctly), separated by `,` `;` or tab
(whichever the header line uses most). XLSX is read with openpyxl in read-only mode, after refusing archives
that would inflate beyond MAX_XLSX_EXPANDED_BYTES. Row numbers are the sheet's own, header = row 1, so an
error message points at the row the user sees; empty rows are skipped but still counted, and reading stops
(the file is refused) once more rows were scanned than `max_rows` data rows and MAX_BLANK_ROWS empty ones, or
after MAX_READ_SECONDS: a few kilobytes of `<row/>` elements inflate to millions of rows.

Every cell written goes through `export_cell`: characters XML cannot hold (a value stored before the input
rules) become U+FFFD, so one bad record never breaks a sheet, and text a spreadsheet would evaluate is
neutralised as transfer_columns describes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
import zipfile
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from services.registry.domain.transfer_columns import COLUMNS, Column
from shared.errors import ValidationFailed
from shared.text import printable

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# A full 20,000-row sheet inflates to ~20 MiB of XML; a zip bomb is refused before openpyxl inflates it.
MAX_XLSX_EXPANDED_BYTES = 64 * 1024 * 1024
MAX_BLANK_ROWS = 10_000  # empty rows tolerated between and after the data rows
MAX_XLSX_COLUMNS = 200  # cells beyond this column are not read (the sheet has 31 columns)
MAX_READ_SECONDS = 20.0


# -- reading the file -------------------------------------------------------------------------------------


@dataclass
class Sheet:
    headers: list[Any]
    rows: list[tuple[int, list[Any]]]  # (row number as the user sees it, raw cells)


def _file_error(message_vi: str, message: str, filename: str | None = None) -> ValidationFailed:
    """The whole file is unreadable: the same error shape as a bad row, without a row."""
    if filename:  # named as the user sees it, and only as much of the name as a message needs
        name = printable(filename)[:120]
        message_vi, message = f"{message_vi}: «{name}»", f"{message}: «{name}»"
    error = {"row": None, "column": None, "field": None, "message_vi": message_vi, "message": message, "code": "file"}
    return ValidationFailed(f"{message_vi} ({message})", errors=[error])


def read_sheet(data: bytes, filename: str | None, content_type: str | None, max_rows: int) -> Sheet:
    """CSV (UTF-8, with or without BOM; `,` `;` or tab) or XLSX, told apart by magic bytes, then name/type."""
    if not data.strip():
        raise _file_error("Tệp rỗng", "the file is empty")
    name = (filename or "").lower()
    if data.startswith(b"PK\x03\x04"):
        rows = _xlsx_rows(data, filename)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _file_error("Định dạng .xls cũ không được hỗ trợ; hãy lưu thành .xlsx hoặc CSV", "legacy .xls")
    elif name.endswith(".xlsx") or content_type == XLSX_MEDIA_TYPE:
        raise _file_error("Tệp .xlsx bị hỏng", "not a valid XLSX file")
    else:
        rows = _csv_rows(data)
    max_scanned = 1 + max_rows + MAX_BLANK_ROWS
    deadline = time.monotonic() + MAX_READ_SECONDS
    with contextlib.closing(rows):  # an early stop (too many rows) still closes the workbook
        try:
            headers = next(rows)[1]
        except StopIteration:
            raise _file_error("Tệp không có dòng tiêu đề", "the file has no header row") from None
        body: list[tuple[int, list[Any]]] = []
        for number, cells in rows:
            if number > max_scanned:
                raise _file_error(
                    f"Tệp có hơn {max_scanned} dòng, kể cả dòng trống",
                    f"more than {max_scanned} rows, counting empty ones",
                    filename,
                )
            if number % 1000 == 0 and time.monotonic() > deadline:
                raise _file_error("Đọc tệp quá lâu", f"reading the file took over {MAX_READ_SECONDS:g} s", filename)
            if not any(c is not None and str(c).strip() for c in cells):
                continue
            body.append((number, cells))
            if len(body) > max_rows:
                raise _file_error(f"Tệp có hơn {max_rows} dòng dữ liệu", f"more than {max_rows} data rows", filename)
    return Sheet(headers, body)


def _csv_rows(data: bytes) -> Generator[tuple[int, list[Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _file_error("Tệp CSV phải được mã hóa UTF-8", "the CSV file must be UTF-8 encoded") from None
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for number, record in enumerate(reader, start=1):  # noqa: B007 - `number` is reported on errors
            yield number, list(record)
    except csv.Error as exc:
        raise _file_error(f"Tệp CSV lỗi ở dòng {number + 1}", f"malformed CSV near row {number + 1}: {exc}") from None


def _xlsx_rows(data: bytes, filename: str | None) -> Generator[tuple[int, list[Any]]]:
    # zipfile never inflates a member beyond the size its directory declares (it stops and fails the CRC), so
    # the declared sizes bound what openpyxl can be made to read.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _file_error("Tệp .xlsx bị hỏng", "not a valid XLSX file", filename) from None
    if expanded > MAX_XLSX_EXPANDED_BYTES:
        raise _file_error(
            f"Tệp .xlsx giải nén lớn hơn {MAX_XLSX_EXPANDED_BYTES} byte",
            f"the XLSX file expands beyond {MAX_XLSX_EXPANDED_BYTES} bytes",
            filename,
        )
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise _file_error("Tệp .xlsx bị hỏng", "not a valid XLSX file", filename) from None
    try:
        sheet = workbook.active
        if sheet is None or not hasattr(sheet, "iter_rows"):
            raise _file_error("Tệp .xlsx không có trang tính", "the XLSX file has no worksheet")
        sheet.reset_dimensions()  # do not trust the file's <dimension>; read what is there
        # Gaps between rows come back as empty rows, so the count is the sheet's row number. `max_col` bounds a
        # row's width (a lone cell in column XFD would otherwise make it 16,384 wide); openpyxl pads every row
        # to it, so the padding is trimmed again.
        for number, values in enumerate(sheet.iter_rows(max_col=MAX_XLSX_COLUMNS, values_only=True), start=1):
            cells = list(values)
            while cells and cells[-1] is None:
                cells.pop()
            yield number, cells
    except ValidationFailed:
        raise
    except Exception:
        raise _file_error("Không đọc được tệp .xlsx", "the XLSX file could not be read") from None
    finally:
        workbook.close()


# -- writing ---------------------------------------------------------------------------------------------------


def write_csv(table: Iterable[list[Any]]) -> bytes:
    """UTF-8 with a BOM, so Excel shows the Vietnamese headers and names correctly."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in COLUMNS])
    for values in table:
        writer.writerow([column.csv_text(v) for column, v in zip(COLUMNS, values, strict=True)])
    return out.getvalue().encode("utf-8")


def write_xlsx(table: Iterable[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("HTX")
    sheet.freeze_panes = "A2"
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(column.header) + 2)
    bold = Font(bold=True)
    header = []
    for column in COLUMNS:
        cell = WriteOnlyCell(sheet, value=column.header)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for values in table:
        sheet.append([_xlsx_cell(sheet, column, v) for column, v in zip(COLUMNS, values, strict=True)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_cell(sheet: Any, column: Column, value: Any) -> Any:
    value = column.xlsx_value(value)
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "DD/MM/YYYY"
        return cell
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text, never a formula
        return cell
    return value
