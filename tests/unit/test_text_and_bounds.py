"""Input bounds as pure rules: the one text type, plausible dates and periods, cursors, the export writer and the
file reader's limits. No I/O; the HTTP wiring is proved in tests/integration/test_input_bounds.py."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
import uuid
import zipfile
from datetime import date
from typing import Any

import openpyxl
import pytest
from pydantic import ValidationError

from services.registry.domain.cooperatives import founded_not_in_future
from services.registry.domain.inputs import CooperativeCreate, ReportSubmissionCreate, StatusReportCreate
from services.registry.domain.transfer_columns import BY_FIELD, COLUMNS
from services.registry.domain.transfer_files import (
    MAX_BLANK_ROWS,
    MAX_XLSX_EXPANDED_BYTES,
    read_sheet,
    write_csv,
    write_xlsx,
)
from shared.errors import ValidationFailed
from shared.pagination import BIGINT_MAX, decode_cursor, encode_cursor
from shared.text import NO_CONTROL_CHARACTERS, PROSE_CHARACTERS, printable
from tests.integration.registry_support import xlsx_with_sheet_body as workbook_with_sheet_body

# Every class of character the text type refuses: C0 (NUL, U+0019), DEL, C1, noncharacters in and beyond the BMP,
# and a lone surrogate.
REFUSED = [
    "\x00",
    "\x01",
    "\x19",
    "\x1f",
    "\x7f",
    "\x80",
    "\x9f",
    "\ufdd0",
    "\ufffe",
    "\uffff",
    "\U0001fffe",
    "\U0010ffff",
]
LONE_SURROGATE = "\ud800"

COOPERATIVE: dict[str, Any] = {
    "registration_code": "1801234567",
    "name": "Hợp tác xã Mỹ Khánh",
    "unit_code": "926",
    "sector": "cultivation",
}
SUBMISSION: dict[str, Any] = {
    "kind": "semi_annual",
    "period": "2025-H1",
    "reference": "125/BC-UBND",
    "submitted_on": "2025-06-05",
    "summary": "Báo cáo sơ kết",
}
STATUS: dict[str, Any] = {
    "as_of": "2025-06-30",
    "period": "2025-H1",
    "members_official": 1,
    "members_associate": 0,
    "charter_capital_vnd": 0,
    "revenue_vnd": 0,
    "farmland_ha": "1",
    "production_value_vnd": 0,
    "classification": "fair",
    "managers_total": 1,
    "managers_trained": 0,
    "managers_female": 0,
    "managers_under_35": 0,
}


def refused_fields(model: type[Any], body: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return {str(e["loc"][0]) for e in caught.value.errors()}


# -- one text type --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", [*REFUSED, LONE_SURROGATE], ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("field", ["name", "address", "contact_name", "contact_email"])
def test_every_free_text_field_of_a_cooperative_refuses_control_and_noncharacters(char: str, field: str) -> None:
    value = f"ab{char}c@d.vn" if field == "contact_email" else f"HTX {char} Mỹ Khánh"
    assert field in refused_fields(CooperativeCreate, {**COOPERATIVE, field: value})


@pytest.mark.parametrize("char", REFUSED, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("field", ["reference", "summary", "period"])
def test_every_free_text_field_of_a_submission_refuses_control_and_noncharacters(char: str, field: str) -> None:
    body = {**SUBMISSION, "kind": "ad_hoc", "request_id": str(uuid.uuid4()), field: f"2025{char}-H1"}
    assert field in refused_fields(ReportSubmissionCreate, body)


@pytest.mark.parametrize("char", REFUSED, ids=lambda c: f"U+{ord(c):04X}")
def test_list_items_of_a_status_report_refuse_control_and_noncharacters(char: str) -> None:
    assert "certifications" in refused_fields(StatusReportCreate, {**STATUS, "certifications": [f"Viet{char}GAP"]})


def test_vietnamese_text_and_prose_line_breaks_are_kept() -> None:
    coop = CooperativeCreate.model_validate({**COOPERATIVE, "address": "Ấp Mỹ Ái, xã Mỹ Khánh — “Cần Thơ” 🌾"})
    assert coop.address == "Ấp Mỹ Ái, xã Mỹ Khánh — “Cần Thơ” 🌾"
    report = ReportSubmissionCreate.model_validate({**SUBMISSION, "summary": "Dòng 1\n\t- dòng 2\r\nhết"})
    assert report.summary == "Dòng 1\n\t- dòng 2\r\nhết"


def test_the_schema_pattern_reads_the_same_in_python_as_in_pydantic() -> None:
    """The OpenAPI document states the rule as a pattern; Python's `re` (what a validator of the document uses)
    must refuse the same BMP characters pydantic does."""
    for pattern in (NO_CONTROL_CHARACTERS, PROSE_CHARACTERS):
        compiled = re.compile(pattern)
        for char in REFUSED[:-2]:  # the astral noncharacters are the validator's, not the pattern's
            assert not compiled.match(f"a{char}b"), (pattern, char)
        assert compiled.match("Hợp tác xã 🌾")


def test_printable_makes_every_stored_value_writable() -> None:
    assert printable("a\x00b\x19c\uffff\ud800\U0001fffe!") == "a\ufffdb\ufffdc\ufffd\ufffd\ufffd!"
    assert printable("x\ny\tz\x0b", multiline=True) == "x\ny\tz\ufffd"
    assert printable("Hợp tác xã") == "Hợp tác xã"


# -- plausible dates and periods ------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["0000", "1999", "1999-H1", "2101", "9999-H2", "0000-H1"])
def test_a_status_report_period_outside_2000_to_2100_is_refused(period: str) -> None:
    assert "period" in refused_fields(StatusReportCreate, {**STATUS, "period": period, "as_of": "2025-06-30"})


@pytest.mark.parametrize(("period", "as_of"), [("2000", "2000-06-30"), ("2100-H2", "2100-06-30")])
def test_the_first_and_last_years_are_accepted(period: str, as_of: str) -> None:
    assert StatusReportCreate.model_validate({**STATUS, "period": period, "as_of": as_of}).period == period


@pytest.mark.parametrize(("kind", "period"), [("semi_annual", "0000-H1"), ("annual", "0000"), ("annual", "2101")])
def test_a_submission_period_outside_2000_to_2100_is_refused(kind: str, period: str) -> None:
    with pytest.raises(ValidationError, match="2000..2100"):
        ReportSubmissionCreate.model_validate({**SUBMISSION, "kind": kind, "period": period})


def test_dates_before_their_plausible_start_are_refused() -> None:
    assert "established_on" in refused_fields(CooperativeCreate, {**COOPERATIVE, "established_on": "1899-12-31"})
    assert CooperativeCreate.model_validate({**COOPERATIVE, "established_on": "1900-01-01"}).established_on
    assert "submitted_on" in refused_fields(ReportSubmissionCreate, {**SUBMISSION, "submitted_on": "0001-01-01"})
    assert "submitted_on" in refused_fields(ReportSubmissionCreate, {**SUBMISSION, "submitted_on": "1999-12-31"})


def test_a_founding_date_after_today_is_refused() -> None:
    founded_not_in_future(date(2025, 7, 15), date(2025, 7, 15))
    founded_not_in_future(None, date(2025, 7, 15))
    with pytest.raises(ValidationFailed) as caught:
        founded_not_in_future(date(9999, 12, 31), date(2025, 7, 15))
    assert caught.value.errors[0]["field"] == "established_on"


def test_the_schema_states_the_ranges() -> None:
    cooperative = json.dumps(CooperativeCreate.model_json_schema())
    submission = json.dumps(ReportSubmissionCreate.model_json_schema())
    status = json.dumps(StatusReportCreate.model_json_schema())
    assert "from 1900-01-01, not after today" in cooperative
    assert "from 2000-01-01, not after today" in submission
    assert "2100" in status and "2100" in submission
    assert "\\\\x00-\\\\x1f\\\\x7f-\\\\x9f" in cooperative  # the text rule, as a pattern


# -- cursors --------------------------------------------------------------------------------------------------


def hand_made(value: Any) -> str:
    raw = json.dumps({"s": "name", "v": value, "id": str(uuid.uuid4())})
    return base64.urlsafe_b64encode(raw.encode()).decode()


@pytest.mark.parametrize("value", ["HTX\x00", 2**63, -(2**63) - 1, {"k\x00": 1}])
def test_a_cursor_holding_a_value_no_column_can_is_refused(value: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(hand_made(value), "name")
    assert caught.value.errors[0]["field"] == "query.cursor"


def test_a_cursor_at_the_bigint_bounds_is_read() -> None:
    ident = str(uuid.uuid4())
    assert decode_cursor(encode_cursor("name", BIGINT_MAX, ident), "name") == (BIGINT_MAX, uuid.UUID(ident))


# -- the export writer ------------------------------------------------------------------------------------------


def export_row(**values: Any) -> list[Any]:
    row: list[Any] = [None] * len(COLUMNS)
    for field, value in values.items():
        row[COLUMNS.index(BY_FIELD[field])] = value
    return row


BAD_STORED = export_row(
    registration_code="1801234567",
    name="HTX \x19 \uffff \x00 tên",
    unit_code="926",
    address="ấp\x0b\ufffe",
    sector="cultivation",
    legal_status="active",
    contact_email="a\x01@b.vn",
    certifications=["Viet\x02GAP"],
)


def test_a_stored_value_with_control_characters_never_breaks_an_xlsx_export() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(write_xlsx([BAD_STORED]))).active
    assert sheet is not None
    row = [c.value for c in sheet[2]]
    assert row[COLUMNS.index(BY_FIELD["name"])] == "HTX \ufffd \ufffd \ufffd tên"
    assert row[COLUMNS.index(BY_FIELD["certifications"])] == "Viet\ufffdGAP"


def test_a_stored_value_with_control_characters_never_breaks_a_csv_export() -> None:
    rows = list(csv.reader(io.StringIO(write_csv([BAD_STORED]).decode("utf-8-sig"))))
    assert rows[1][COLUMNS.index(BY_FIELD["address"])] == "ấp\ufffd\ufffd"
    assert not any(re.search(f"[{NO_CONTROL_CHARACTERS[3:-3]}]", cell) for cell in rows[1])


# OWASP CSV injection: what a spreadsheet evaluates, including what the first escaping let through.
EVALUATED = [
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "=1+1",
    "@SUM(A1)",
    '  =HYPERLINK("http://x")',
    "\u00a0@A1",
    "+84 292 3850 123",
    "-",
    "＝1+1",
]


@pytest.mark.parametrize("value", EVALUATED)
def test_csv_export_neutralises_every_cell_a_spreadsheet_would_evaluate(value: str) -> None:
    column = BY_FIELD["address"]
    written = column.csv_text(value)
    assert written == "'" + printable(value)
    assert column.parse(written) == printable(value).strip()  # import reads back what was stored


@pytest.mark.parametrize("value", ["\t=1", "\r=1", "\x00=1"])
def test_a_leading_tab_or_cr_cannot_reach_a_csv_cell(value: str) -> None:
    assert BY_FIELD["address"].csv_text(value) == "\ufffd=1"  # text with a control character is not evaluated


def test_numbers_are_written_as_numbers_and_plain_text_as_it_is() -> None:
    assert BY_FIELD["revenue_vnd"].csv_text(1_200_000_000) == "1200000000"
    assert BY_FIELD["farmland_ha"].csv_text(BY_FIELD["farmland_ha"].parse("85,5")) == "85.5"
    assert BY_FIELD["name"].csv_text("HTX 1+1") == "HTX 1+1"
    assert BY_FIELD["registration_code"].csv_text("1801234567") == "1801234567"


# -- the file reader's limits -----------------------------------------------------------------------------------


def xlsx_with_sheet_body(body: bytes) -> bytes:
    """A real workbook whose sheet XML gets `body` appended inside <sheetData>."""
    return workbook_with_sheet_body([c.header for c in COLUMNS[:5]], body)


def file_error(data: bytes, filename: str = "bomb.xlsx") -> str:
    with pytest.raises(ValidationFailed) as caught:
        read_sheet(data, filename, None, max_rows=20_000)
    assert caught.value.errors[0]["code"] == "file"
    message: str = caught.value.errors[0]["message"]
    assert filename in message
    return message


def test_millions_of_empty_rows_are_refused_quickly() -> None:
    data = xlsx_with_sheet_body(b"<row/>" * 6_000_000)
    assert len(data) < 100_000  # the attack: tens of kilobytes
    started = time.monotonic()
    assert "empty" in file_error(data)
    assert time.monotonic() - started < 5


def test_a_row_numbered_far_down_the_sheet_is_refused_quickly() -> None:
    data = xlsx_with_sheet_body(b'<row r="1000000"><c r="A1000000" t="inlineStr"><is><t>x</t></is></c></row>')
    started = time.monotonic()
    assert "empty" in file_error(data)
    assert time.monotonic() - started < 5


def test_blank_rows_up_to_the_tolerance_are_read() -> None:
    rows = b"<row/>" * (MAX_BLANK_ROWS - 10)
    sheet = read_sheet(xlsx_with_sheet_body(rows), "ok.xlsx", None, max_rows=20_000)
    assert sheet.rows == []


def test_an_archive_that_inflates_beyond_the_limit_is_refused_before_it_is_opened() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (MAX_XLSX_EXPANDED_BYTES + 1))
    assert "expands" in file_error(out.getvalue())


def test_a_cell_far_to_the_right_does_not_widen_every_row() -> None:
    data = xlsx_with_sheet_body(b'<row r="2"><c r="XFD2" t="inlineStr"><is><t>x</t></is></c></row>')
    sheet = read_sheet(data, "wide.xlsx", None, max_rows=20_000)
    assert len(sheet.headers) == 5
    assert sheet.rows == []  # the far cell is beyond the columns read; the row is empty
