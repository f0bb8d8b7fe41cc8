"""Input bounds over HTTP, on real PostgreSQL: text with control characters, integers beyond the column,
implausible dates and periods and hostile files are a 422 naming the field (or the file), never a 500; a bad
value already stored never breaks an export; a CSV export never holds a cell a spreadsheet would evaluate."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry.app import create_app
from shared.infra.stack import Stack
from tests.integration.apps import running
from tests.integration.registry_support import auth, clock, cooperative_body, status_body, xlsx_with_sheet_body

pytestmark = pytest.mark.integration

# Unit 923 is used by no other registry test's export assertions; this module's rows are told apart by code.
UNIT = "923"


@pytest.fixture(scope="module")
async def api(service_env: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(clock=clock())) as http:
        yield http


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post("/v1/cooperatives", json=cooperative_body(unit_code=UNIT, **overrides), headers=auth())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, field: str, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert any(field in str(e.get("field")) for e in body.get("errors") or []), body
    return body


# -- one text type ------------------------------------------------------------------------------------------------

CONTROL = ["\x00", "\x19", "\x7f", "\x85x", "\ufffe", "\uffff", "\U0010ffff"]


@pytest.mark.parametrize("char", CONTROL, ids=lambda c: f"U+{ord(c[0]):04X}")
@pytest.mark.parametrize("field", ["name", "address", "contact_name", "contact_email"])
async def test_control_characters_in_any_text_field_are_422_naming_it_on_create(
    api: httpx.AsyncClient, char: str, field: str
) -> None:
    value = f"ab{char}c@d.vn" if field == "contact_email" else f"HTX {char} Mỹ Khánh"
    response = await api.post("/v1/cooperatives", json=cooperative_body(**{field: value}), headers=auth())
    refused(response, field)


@pytest.mark.parametrize("field", ["name", "address", "contact_name", "contact_email"])
async def test_nul_in_any_text_field_is_422_naming_it_on_patch(api: httpx.AsyncClient, field: str) -> None:
    coop = await create(api)
    etag = (await api.get(f"/v1/cooperatives/{coop['id']}", headers=auth())).headers["ETag"]
    value = "a\x00b@c.vn" if field == "contact_email" else "HTX \x00 Mỹ Khánh"
    response = await api.patch(
        f"/v1/cooperatives/{coop['id']}", json={field: value}, headers={**auth(), "If-Match": etag}
    )
    refused(response, field)


@pytest.mark.parametrize("field", ["reference", "summary", "period"])
async def test_control_characters_in_a_submission_are_422_naming_the_field(api: httpx.AsyncClient, field: str) -> None:
    body = {
        "kind": "ad_hoc",
        "request_id": str(uuid.uuid4()),
        "period": "2025-Q9",
        "reference": "12/BC",
        "submitted_on": "2025-06-05",
        "summary": "Báo cáo",
        field: "2025\x00\x19-H1",
    }
    refused(await api.post("/v1/report-submissions", json=body, headers=auth("UBND-923")), field)


async def test_a_query_parameter_with_a_noncharacter_is_422(api: httpx.AsyncClient) -> None:
    refused(await api.get("/v1/cooperatives", params={"q": "m\uffffy"}, headers=auth()), "q")


# -- integers and cursors -------------------------------------------------------------------------------------------


async def test_a_history_position_beyond_bigint_is_422_and_at_bigint_is_read(api: httpx.AsyncClient) -> None:
    coop = await create(api)
    path = f"/v1/cooperatives/{coop['id']}/history"
    refused(await api.get(path, params={"before": str(2**63)}, headers=auth()), "before")
    refused(await api.get(path, params={"before": "1" + "0" * 40}, headers=auth()), "before")
    response = await api.get(path, params={"before": str(2**63 - 1)}, headers=auth())
    assert response.status_code == 200, response.text
    assert [c["action"] for c in response.json()] == ["created"]


@pytest.mark.parametrize("value", ["HTX\x00", 2**63])
async def test_a_cursor_holding_nul_or_a_huge_integer_is_422(api: httpx.AsyncClient, value: Any) -> None:
    raw = json.dumps({"s": "name", "v": value, "id": str(uuid.uuid4())}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    refused(await api.get("/v1/cooperatives", params={"cursor": cursor}, headers=auth()), "cursor")


# -- plausible dates and periods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["0000", "0000-H1", "1999-H2", "2101"])
async def test_a_status_report_period_outside_2000_to_2100_is_422(api: httpx.AsyncClient, period: str) -> None:
    coop = await create(api)
    response = await api.post(
        f"/v1/cooperatives/{coop['id']}/status-reports", json=status_body(period=period), headers=auth()
    )
    refused(response, "period")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "annual", "period": "0000"}, "body"),
        ({"kind": "semi_annual", "period": "0000-H1"}, "body"),
        ({"submitted_on": "0001-01-01"}, "submitted_on"),
        ({"submitted_on": "2099-01-01"}, "submitted_on"),
    ],
)
async def test_an_implausible_submission_is_422(api: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    full = {
        "kind": "semi_annual",
        "period": "2025-H1",
        "reference": f"{uuid.uuid4().hex[:4]}/BC",
        "submitted_on": "2025-06-05",
        "summary": "Báo cáo",
        **body,
    }
    refused(await api.post("/v1/report-submissions", json=full, headers=auth("UBND-923")), field)


@pytest.mark.parametrize("day", ["9999-12-31", "2025-07-16", "1899-12-31", "0001-01-01"])
async def test_an_implausible_founding_date_is_422_on_create_and_patch(api: httpx.AsyncClient, day: str) -> None:
    refused(
        await api.post("/v1/cooperatives", json=cooperative_body(established_on=day), headers=auth()), "established_on"
    )
    coop = await create(api)
    etag = (await api.get(f"/v1/cooperatives/{coop['id']}", headers=auth())).headers["ETag"]
    response = await api.patch(
        f"/v1/cooperatives/{coop['id']}", json={"established_on": day}, headers={**auth(), "If-Match": etag}
    )
    refused(response, "established_on")


async def test_the_openapi_document_states_the_ranges(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).text
    assert "from 1900-01-01, not after today" in document
    assert "from 2000-01-01, not after today" in document
    assert "(20[0-9]{2}|2100)" in document


# -- export integrity -------------------------------------------------------------------------------------------------


async def test_a_stored_value_no_input_would_accept_never_breaks_an_export(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Values written before the input rules (or by another path): C0, U+FFFF, a formula."""
    coop = await create(api, name="HTX Bình An")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE registry.cooperatives SET name = :name, address = :address, contact_email = :email"
                " WHERE id = :id"
            ),
            {
                "name": "HTX \x19 Bình \uffff An",
                "address": "=1+1\x01",
                "email": "+1+cmd|' /C calc'!A0",
                "id": coop["id"],
            },
        )
    try:
        for scope in ({"unit": UNIT}, {}):  # the district and the whole city
            xlsx = await api.get(
                "/v1/cooperatives/export", params={"format": "xlsx", **scope}, headers=auth(), timeout=120
            )
            assert xlsx.status_code == 200, xlsx.text[:2000]
            sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active
            assert sheet is not None
            rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
            assert rows[coop["registration_code"]][1] == "HTX \ufffd Bình \ufffd An"

            exported = await api.get(
                "/v1/cooperatives/export", params={"format": "csv", **scope}, headers=auth(), timeout=120
            )
            assert exported.status_code == 200, exported.text[:2000]
            lines = {r[0]: r for r in csv.reader(io.StringIO(exported.content.decode("utf-8-sig")))}
            row = lines[coop["registration_code"]]
            assert row[1] == "HTX \ufffd Bình \ufffd An"
            assert row[3] == "'=1+1\ufffd"
            assert row[9] == "'+1+cmd|' /C calc'!A0"
    finally:  # valid again, so that other tests' city-wide exports re-import as they are
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE registry.cooperatives SET name = 'HTX Bình An', address = NULL, contact_email = NULL"
                    " WHERE id = :id"
                ),
                {"id": coop["id"]},
            )


@pytest.mark.parametrize("name", ["+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)", " =1+1"])
async def test_a_csv_export_never_holds_a_cell_a_spreadsheet_would_evaluate(api: httpx.AsyncClient, name: str) -> None:
    coop = await create(api, name=name)
    exported = await api.get("/v1/cooperatives/export", params={"format": "csv", "unit": UNIT}, headers=auth())
    assert exported.status_code == 200, exported.text[:2000]
    lines = {r[0]: r for r in csv.reader(io.StringIO(exported.content.decode("utf-8-sig")))}
    assert lines[coop["registration_code"]][1] == "'" + name.strip()


# -- hostile files ----------------------------------------------------------------------------------------------------


def xlsx_with_empty_rows(count: int) -> bytes:
    return xlsx_with_sheet_body(["Mã số HTX", "Tên HTX", "Mã đơn vị hành chính", "Lĩnh vực"], b"<row/>" * count)


async def test_an_xlsx_of_millions_of_empty_rows_is_refused_quickly_naming_the_file(api: httpx.AsyncClient) -> None:
    content = xlsx_with_empty_rows(6_000_000)
    assert len(content) < 100_000
    started = time.monotonic()
    response = await api.post(
        "/v1/cooperatives/import",
        params={"dry_run": "true"},
        files={"file": ("rows.xlsx", content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
        headers=auth(),
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "file" and "rows.xlsx" in error["message"], error
    assert elapsed < 5, elapsed
