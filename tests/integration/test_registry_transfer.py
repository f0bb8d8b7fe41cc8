"""Bulk import and export of cooperatives over HTTP, on real PostgreSQL and Kafka.

The files are written here the way an agency would fill them in: Vietnamese headers and labels, dd/mm/yyyy,
"1.200.000.000", "85,5", có/x/không. The database is shared by the whole session, so every test uses its own
random registration codes and counts only its own rows.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared.events import topics
from shared.infra.stack import Stack
from tests.integration.apps import running
from tests.integration.kafka_helpers import eventually, read_topic
from tests.integration.registry_support import DISTRICTS, auth, clock, registration_code

pytestmark = pytest.mark.integration

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROFILE = [
    "Mã số HTX",
    "Tên HTX",
    "Mã đơn vị hành chính",
    "Địa chỉ",
    "Lĩnh vực",
    "Ngày thành lập",
    "Tình trạng pháp lý",
    "Người liên hệ",
    "Điện thoại",
    "Email",
]
STATUS = [
    "Ngày số liệu",
    "Kỳ báo cáo",
    "Thành viên chính thức",
    "Thành viên liên kết",
    "Vốn điều lệ (VND)",
    "Doanh thu 12 tháng (VND)",
    "Diện tích đất (ha)",
    "Giá trị sản xuất (VND)",
    "Xếp loại",
    "Mô hình điểm",
    "Liên kết doanh nghiệp",
    "Doanh nghiệp liên kết",
    "Công nghệ cao/GAP",
    "Chứng nhận",
    "Thương mại điện tử",
    "Sàn TMĐT",
    "Sản phẩm OCOP",
    "Tổng số cán bộ quản lý",
    "Cán bộ đã qua đào tạo",
    "Cán bộ nữ",
    "Cán bộ dưới 35 tuổi",
]
HEADERS = PROFILE + STATUS


def row(code: str, *, status: bool = True, **cells: Any) -> dict[str, Any]:
    """One sheet row as an agency would type it; `cells` overrides by Vietnamese header."""
    values: dict[str, Any] = {
        "Mã số HTX": code,
        "Tên HTX": "Hợp tác xã Nông nghiệp Mỹ Khánh",
        "Mã đơn vị hành chính": "926",
        "Địa chỉ": "Ấp Mỹ Ái, xã Mỹ Khánh, huyện Phong Điền",
        "Lĩnh vực": "trồng trọt",
        "Ngày thành lập": "12/03/2015",
        "Tình trạng pháp lý": "đang hoạt động",
        "Người liên hệ": "Nguyễn Văn Ba",
        "Điện thoại": "0292 3850 123",
        "Email": "",
    }
    if status:
        values |= {
            "Ngày số liệu": "30/06/2025",
            "Kỳ báo cáo": "2025-H1",
            "Thành viên chính thức": "42",
            "Thành viên liên kết": "15",
            "Vốn điều lệ (VND)": "1.200.000.000",
            "Doanh thu 12 tháng (VND)": "3 500 000 000",
            "Diện tích đất (ha)": "85,5",
            "Giá trị sản xuất (VND)": "9800000000",
            "Xếp loại": "khá",
            "Mô hình điểm": "có",
            "Liên kết doanh nghiệp": "x",
            "Doanh nghiệp liên kết": "Công ty CP Nông sản Cần Thơ; Công ty TNHH Gạo Việt",
            "Công nghệ cao/GAP": "có",
            "Chứng nhận": "VietGAP",
            "Thương mại điện tử": "không",
            "Sàn TMĐT": "",
            "Sản phẩm OCOP": "2",
            "Tổng số cán bộ quản lý": "7",
            "Cán bộ đã qua đào tạo": "3",
            "Cán bộ nữ": "2",
            "Cán bộ dưới 35 tuổi": "1",
        }
    return values | cells


def csv_file(rows: list[dict[str, Any]], headers: list[str] = HEADERS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for r in rows:
        writer.writerow([r.get(h, "") for h in headers])
    return ("\ufeff" + out.getvalue()).encode()


def codes(n: int) -> list[str]:
    return [registration_code() for _ in range(n)]


async def upload(
    api: httpx.AsyncClient,
    content: bytes,
    *,
    filename: str = "htx.csv",
    media_type: str = "text/csv",
    agency: str = "SNN",
    dry_run: bool = False,
) -> httpx.Response:
    return await api.post(
        "/v1/cooperatives/import",
        params={"dry_run": str(dry_run).lower()},
        files={"file": (filename, content, media_type)},
        headers=auth(agency),
        timeout=300,
    )


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text[:3000]
    body: dict[str, Any] = response.json()
    return body


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:3000]
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def stored(engine: AsyncEngine, registration_codes: list[str]) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM registry.cooperatives WHERE registration_code = ANY(:codes)"),
            {"codes": registration_codes},
        )
    return int(count or 0)


async def outbox_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM registry.outbox")) or 0)


async def find(api: httpx.AsyncClient, code: str) -> dict[str, Any]:
    response = await api.get("/v1/cooperatives", params={"q": code}, headers=auth())
    [item] = response.json()["items"]
    assert item["registration_code"] == code
    return dict(item)


@pytest.fixture(scope="module")
async def api(service_env: Stack) -> AsyncIterator[httpx.AsyncClient]:
    # Default settings: the import route has its own body limit (import_max_bytes), above the 1 MiB of the others.
    async with running(create_app(clock=clock())) as http:
        yield http


# -- import ---------------------------------------------------------------------------------------------------


async def test_a_csv_with_vietnamese_headers_and_labels_imports(
    api: httpx.AsyncClient, engine: AsyncEngine, service_env: Stack
) -> None:
    a, b, c = codes(3)
    rows = [
        row(a, **{"Tên HTX": "Hợp tác xã Nông nghiệp Mỹ Khánh " + a}),
        row(  # English codes, ISO dates, 1/0 and "true" are accepted too
            b,
            **{
                "Tên HTX": "HTX Thủy sản Thới Lai " + b,
                "Mã đơn vị hành chính": "927",
                "Lĩnh vực": "aquaculture",
                "Ngày thành lập": "2019-11-02",
                "Ngày số liệu": "2025-06-30",
                "Xếp loại": "good",
                "Mô hình điểm": "0",
                "Thương mại điện tử": "true",
                "Sàn TMĐT": "Postmart;  Shopee ",
                "Vốn điều lệ (VND)": "500000000",
            },
        ),
        row(c, status=False, **{"Tên HTX": "HTX Dịch vụ Nông nghiệp Cờ Đỏ " + c, "Lĩnh vực": "dịch vụ nông nghiệp"}),
    ]
    before = await outbox_rows(engine)
    result = ok(await upload(api, csv_file(rows)))
    assert result == {
        "dry_run": False,
        "rows": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "status_reports_added": 2,
    }

    first = await find(api, a)
    assert first["name"] == "Hợp tác xã Nông nghiệp Mỹ Khánh " + a
    assert (first["unit_code"], first["sector"], first["legal_status"]) == ("926", "cultivation", "active")
    assert first["established_on"] == "2015-03-12"
    assert (first["contact_phone"], first["contact_email"]) == ("0292 3850 123", None)
    latest = first["latest_status"]
    assert (latest["as_of"], latest["period"], latest["revision"]) == ("2025-06-30", "2025-H1", 1)
    assert (latest["charter_capital_vnd"], latest["revenue_vnd"]) == (1_200_000_000, 3_500_000_000)
    assert latest["farmland_ha"] == "85.50"
    assert (latest["classification"], latest["is_model"], latest["enterprise_linked"]) == ("fair", True, True)
    assert latest["enterprise_partners"] == ["Công ty CP Nông sản Cần Thơ", "Công ty TNHH Gạo Việt"]
    assert (latest["ecommerce"], latest["ecommerce_platforms"]) == (False, [])
    assert (latest["managers_total"], latest["managers_trained"], latest["reported_by_agency"]) == (7, 3, "SNN")

    second = await find(api, b)
    assert (second["unit_code"], second["sector"], second["established_on"]) == ("927", "aquaculture", "2019-11-02")
    assert second["latest_status"]["classification"] == "good"
    assert second["latest_status"]["is_model"] is False
    assert second["latest_status"]["ecommerce_platforms"] == ["Postmart", "Shopee"]

    third = await find(api, c)
    assert (third["sector"], third["latest_status"], third["version"]) == ("agricultural_services", None, 1)

    history = (await api.get(f"/v1/cooperatives/{first['id']}/history", headers=auth())).json()
    assert [(h["version"], h["action"]) for h in history] == [(2, "status_reported"), (1, "created")]
    assert history[1]["changes"]["name"]["new"] == first["name"]

    # One event per created cooperative, carrying its final state.
    assert await outbox_rows(engine) == before + 3
    events = await events_by_key(service_env, {first["id"], second["id"], third["id"]})
    assert {k: len(v) for k, v in events.items()} == {first["id"]: 1, second["id"]: 1, third["id"]: 1}
    [event] = events[first["id"]]
    assert (event["version"], event["registration_code"], event["unit_code"]) == (2, a, "926")
    assert event["status"]["classification"] == "fair"
    assert event["status"]["charter_capital_vnd"] == 1_200_000_000
    assert events[third["id"]][0]["status"] is None


async def events_by_key(stack: Stack, keys: set[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}

    async def arrived() -> bool:
        records = await read_topic(stack.bootstrap_servers, topics.COOPERATIVE_STATUS)
        found.clear()
        for record in records:
            key = record.key.decode() if record.key else ""
            if key in keys:
                found.setdefault(key, []).append(json.loads(record.value))
        return set(found) == keys

    await eventually(arrived, within=60, what=f"events for {len(keys)} cooperatives")
    return found


async def test_a_reimport_updates_only_what_differs(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    a, b, c = codes(3)
    rows = [row(a), row(b), row(c, status=False)]
    ok(await upload(api, csv_file(rows)))
    first_id = (await find(api, a))["id"]

    rows[0]["Tên HTX"] = "Hợp tác xã Nông nghiệp Mỹ Khánh Mới"  # profile change only
    rows[1]["Thành viên chính thức"] = "50"  # same period, other numbers: a new revision
    before = await outbox_rows(engine)
    result = ok(await upload(api, csv_file(rows)))
    assert (result["created"], result["updated"], result["unchanged"], result["status_reports_added"]) == (0, 2, 1, 1)
    assert await outbox_rows(engine) == before + 2

    first = await find(api, a)
    assert (first["name"], first["version"], first["latest_status"]["revision"]) == (
        "Hợp tác xã Nông nghiệp Mỹ Khánh Mới",
        3,
        1,
    )
    history = (await api.get(f"/v1/cooperatives/{first_id}/history", headers=auth())).json()
    assert history[0]["action"] == "updated"
    assert history[0]["changes"] == {
        "name": {"old": "Hợp tác xã Nông nghiệp Mỹ Khánh", "new": "Hợp tác xã Nông nghiệp Mỹ Khánh Mới"}
    }
    second = await find(api, b)
    assert (second["latest_status"]["members_official"], second["latest_status"]["revision"]) == (50, 2)
    assert second["version"] == 3


async def test_bad_rows_are_all_listed_and_nothing_is_written(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    good, good_too, duplicated = codes(3)
    rows = [
        row(good),  # row 2
        row("12345"),  # row 3: not a registration code
        row(registration_code(), **{"Tổng số cán bộ quản lý": "2", "Cán bộ đã qua đào tạo": "5"}),  # row 4
        row(registration_code(), **{"Mã đơn vị hành chính": "999"}),  # row 5: no such unit
        row(registration_code(), **{"Ngày thành lập": "31/02/2015"}),  # row 6: no such date
        row(good),  # row 7: the code of row 2 again
        row(good_too),  # row 8
        row(duplicated, **{"Xếp loại": "xuất sắc", "Vốn điều lệ (VND)": "1,5"}),  # row 9: two bad cells
    ]
    all_codes = [r["Mã số HTX"] for r in rows]
    body = problem(await upload(api, csv_file(rows)), 422)
    found = {(e["row"], e["column"], e["field"]) for e in body["errors"]}
    assert found == {
        (3, "Mã số HTX", "registration_code"),
        (4, "Cán bộ đã qua đào tạo", "managers_trained"),
        (5, "Mã đơn vị hành chính", "unit_code"),
        (6, "Ngày thành lập", "established_on"),
        (7, "Mã số HTX", "registration_code"),
        (9, "Xếp loại", "classification"),
        (9, "Vốn điều lệ (VND)", "charter_capital_vnd"),
    }
    assert body["error_count"] == 7
    by_row = {e["row"]: e for e in body["errors"]}
    assert by_row[7]["code"] == "duplicate"
    assert "dòng 2" in by_row[7]["message_vi"]
    assert by_row[5]["code"] == "unknown_unit"
    assert by_row[4]["message_vi"] == "Không được lớn hơn Tổng số cán bộ quản lý (2)"
    assert all(e["message_vi"] and e["message"] for e in body["errors"])
    assert "không có dữ liệu nào được ghi" in body["detail"]
    assert await stored(engine, all_codes) == 0


async def test_header_problems_are_reported_on_row_1(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    code = registration_code()
    headers = [h for h in HEADERS if h != "Lĩnh vực"] + ["Ghi chú"]
    body = problem(await upload(api, csv_file([row(code)], headers=headers)), 422)
    assert {(e["row"], e["column"], e["code"]) for e in body["errors"]} == {
        (1, "Lĩnh vực", "missing_column"),
        (1, "Ghi chú", "unknown_column"),
    }
    body = problem(await upload(api, csv_file([row(code)], headers=HEADERS[:-1])), 422)
    assert {(e["row"], e["column"], e["code"]) for e in body["errors"]} == {
        (1, "Cán bộ dưới 35 tuổi", "missing_column")
    }
    body = problem(await upload(api, b"M\xe3 s\xf4 HTX;T\xean HTX\n"), 422)
    assert body["errors"][0]["code"] == "file"
    assert await stored(engine, [code]) == 0


async def test_a_dry_run_counts_and_writes_nothing(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    known, new = codes(2)
    ok(await upload(api, csv_file([row(known, status=False)])))
    before = await outbox_rows(engine)
    result = ok(await upload(api, csv_file([row(known), row(new)]), dry_run=True))
    assert result == {
        "dry_run": True,
        "rows": 2,
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "status_reports_added": 2,
    }
    assert await stored(engine, [new]) == 0
    assert (await find(api, known))["latest_status"] is None
    assert await outbox_rows(engine) == before


async def test_ten_thousand_xlsx_rows_import_in_one_request(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    # A block of 10,000 consecutive codes that no other test draws from (they use 18…, as Cần Thơ's codes do).
    prefix = "99" + "".join(random.choice("0123456789") for _ in range(4))
    all_codes = [f"{prefix}{i:04d}" for i in range(10_000)]
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("HTX")
    sheet.append(HEADERS)
    for i, code in enumerate(all_codes):
        sheet.append(
            [
                code,
                f"Hợp tác xã Nông nghiệp Thử Nghiệm {code}",
                int(DISTRICTS[i % len(DISTRICTS)]),  # typed as a number, as Excel users do
                f"Ấp {i % 17 + 1}, xã Trường Long",
                ["trồng trọt", "chăn nuôi", "thủy sản", "tổng hợp"][i % 4],
                date(2010 + i % 15, i % 12 + 1, i % 28 + 1),
                "đang hoạt động",
                "Trần Thị Hoa",
                "0292 3850 123",
                None,
                date(2025, 6, 30),
                "2025-H1",
                20 + i % 80,
                i % 30,
                100_000_000 * (1 + i % 50),
                250_000_000 * (1 + i % 40),
                round(10 + (i % 900) / 10, 1),
                900_000_000 * (1 + i % 20),
                ["tốt", "khá", "trung bình", "yếu", "chưa xếp loại"][i % 5],
                "có" if i % 10 == 0 else "không",
                "x" if i % 3 == 0 else None,
                "Công ty CP Nông sản Cần Thơ" if i % 3 == 0 else None,
                "có" if i % 4 == 0 else "không",
                "VietGAP; GlobalGAP" if i % 4 == 0 else None,
                "không",
                None,
                i % 3,
                7,
                i % 8,
                2,
                1,
            ]
        )
    content = io.BytesIO()
    workbook.save(content)

    started = time.perf_counter()
    response = await upload(api, content.getvalue(), filename="htx-10000.xlsx", media_type=XLSX)
    elapsed = time.perf_counter() - started
    print(f"\n[import] 10,000 XLSX rows ({len(content.getvalue()) / 1e6:.2f} MB) in {elapsed:.1f} s")  # noqa: T201
    result = ok(response)
    assert (result["rows"], result["created"], result["status_reports_added"]) == (10_000, 10_000, 10_000)
    assert await stored(engine, all_codes) == 10_000
    sample = await find(api, all_codes[4321])
    assert sample["unit_code"] == DISTRICTS[4321 % len(DISTRICTS)]
    assert sample["latest_status"]["farmland_ha"] == f"{round(10 + (4321 % 900) / 10, 1):.2f}"


# -- export and round trip ------------------------------------------------------------------------------------


async def test_export_then_reimport_changes_nothing(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    a, b, c = codes(3)
    rows = [
        row(a, **{"Mã đơn vị hành chính": "924", "Sàn TMĐT": "Postmart; Shopee", "Thương mại điện tử": "có"}),
        row(b, status=False, **{"Mã đơn vị hành chính": "924", "Tên HTX": '=HYPERLINK("x") HTX', "Email": "a@b.vn"}),
        row(c, **{"Mã đơn vị hành chính": "924", "Ngày số liệu": "31/12/2024", "Kỳ báo cáo": "2024"}),
    ]
    older = csv_file(rows)
    ok(await upload(api, older))
    rows[2] |= {"Ngày số liệu": "30/06/2025", "Kỳ báo cáo": "2025-H1", "Diện tích đất (ha)": "12,25"}
    ok(await upload(api, csv_file(rows)))  # c now has two periods; the export carries the latest
    again = ok(await upload(api, older))  # an older file: its 2024 report is already there
    assert (again["updated"], again["unchanged"], again["status_reports_added"]) == (0, 3, 0)

    before = await outbox_rows(engine)
    exported = await api.get("/v1/cooperatives/export", params={"format": "csv", "unit": "924"}, headers=auth())
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"] == 'attachment; filename="htx-2025-07-15.csv"'
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.content.startswith("\ufeff".encode())
    sheet = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert sheet[0] == HEADERS
    mine = {r[0]: dict(zip(HEADERS, r, strict=True)) for r in sheet[1:] if r[0] in (a, b, c)}
    assert mine[a]["Xếp loại"] == "khá"
    assert (mine[a]["Mô hình điểm"], mine[a]["Thương mại điện tử"]) == ("có", "có")
    assert (mine[a]["Ngày thành lập"], mine[a]["Vốn điều lệ (VND)"]) == ("12/03/2015", "1200000000")
    assert (mine[a]["Diện tích đất (ha)"], mine[a]["Sàn TMĐT"]) == ("85.50", "Postmart; Shopee")
    assert mine[a]["Lĩnh vực"] == "trồng trọt"
    assert mine[a]["Tình trạng pháp lý"] == "đang hoạt động"
    assert mine[b]["Tên HTX"] == '\'=HYPERLINK("x") HTX'  # Excel must not run it as a formula
    assert mine[b]["Ngày số liệu"] == "" and mine[b]["Mô hình điểm"] == ""
    assert (mine[c]["Kỳ báo cáo"], mine[c]["Diện tích đất (ha)"]) == ("2025-H1", "12.25")

    result = ok(await upload(api, exported.content))
    assert (result["created"], result["updated"], result["status_reports_added"]) == (0, 0, 0)
    assert result["unchanged"] == result["rows"] == len(sheet) - 1

    xlsx = await api.get("/v1/cooperatives/export", params={"format": "xlsx", "unit": "924"}, headers=auth())
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-type"] == XLSX
    assert xlsx.headers["content-disposition"] == 'attachment; filename="htx-2025-07-15.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    values = list(book.active.iter_rows(values_only=True))
    assert list(values[0]) == HEADERS
    by_code = {r[0]: r for r in values[1:]}
    assert by_code[b][1] == '=HYPERLINK("x") HTX'  # a string cell, not a formula
    result = ok(await upload(api, xlsx.content, filename="htx.xlsx", media_type=XLSX))
    assert (result["created"], result["updated"], result["status_reports_added"]) == (0, 0, 0)
    assert result["unchanged"] == result["rows"] == len(values) - 1

    everything = await api.get("/v1/cooperatives/export", headers=auth(), timeout=300)
    assert everything.status_code == 200
    result = ok(await upload(api, everything.content))
    assert (result["created"], result["updated"], result["status_reports_added"]) == (0, 0, 0)
    assert result["unchanged"] == result["rows"] > 3

    assert await outbox_rows(engine) == before


# -- who may import -------------------------------------------------------------------------------------------


async def test_a_district_imports_only_within_its_jurisdiction(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    theirs, ours, outside = codes(3)
    ok(await upload(api, csv_file([row(theirs, **{"Mã đơn vị hành chính": "926"})])))
    file = [
        row(theirs, **{"Mã đơn vị hành chính": "926"}),  # unchanged: needs no jurisdiction
        row(ours, **{"Mã đơn vị hành chính": "916"}),
        row(outside, **{"Mã đơn vị hành chính": "926"}),  # row 4: Phong Điền is not Ninh Kiều's
    ]
    body = problem(await upload(api, csv_file(file), agency="UBND-916"), 422)
    assert [(e["row"], e["column"], e["code"]) for e in body["errors"]] == [
        (4, "Mã đơn vị hành chính", "outside_jurisdiction")
    ]
    assert "UBND-916" in body["errors"][0]["message_vi"]
    assert await stored(engine, [ours, outside]) == 0

    file[0]["Tên HTX"] = "HTX đổi tên bởi quận khác"  # changing someone else's cooperative: refused too
    body = problem(await upload(api, csv_file(file[:2]), agency="UBND-916"), 422)
    assert [(e["row"], e["code"]) for e in body["errors"]] == [(2, "outside_jurisdiction")]

    result = ok(await upload(api, csv_file([row(theirs), file[1]]), agency="UBND-916"))
    assert (result["created"], result["unchanged"]) == (1, 1)
    assert await stored(engine, [ours]) == 1


async def test_scopes_agencies_and_limits(api: httpx.AsyncClient) -> None:
    content = csv_file([row(registration_code())])
    response = await api.post(
        "/v1/cooperatives/import",
        files={"file": ("htx.csv", content, "text/csv")},
        headers=auth(scopes="registry:read"),
    )
    assert problem(response, 403)["required_scope"] == "registry:write"
    response = await api.get("/v1/cooperatives/export", headers=auth(scopes="registry:write"))
    assert problem(response, 403)["required_scope"] == "registry:read"
    assert problem(await api.post("/v1/cooperatives/import", files={"file": ("a.csv", content)}), 401)
    body = problem(await upload(api, content, agency="SCT"), 403)  # has the scope, but keeps no registry
    assert "SCT" in body["detail"]

    settings = RegistrySettings(import_max_bytes=4096, import_max_rows=3)
    async with running(create_app(settings=settings, clock=clock())) as small:
        big = csv_file([row(registration_code()) for _ in range(20)])
        assert len(big) > 4096
        body = problem(await upload(small, big), 413)
        assert body["max_bytes"] == 4096
        many = csv_file([row(registration_code(), status=False) for _ in range(4)])
        assert len(many) < 4096
        assert "3" in problem(await upload(small, many), 422)["detail"]
        assert ok(await upload(small, content))["created"] == 1


async def test_the_openapi_documents_the_upload_and_the_results(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    post = spec["paths"]["/v1/cooperatives/import"]["post"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["$ref"].endswith("Body_import_cooperatives_v1_cooperatives_import_post")
    assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ImportResult")
    assert "application/problem+json" in post["responses"]["422"]["content"]
    assert "ImportRowError" in spec["components"]["schemas"]
    get = spec["paths"]["/v1/cooperatives/export"]["get"]
    assert {"text/csv", XLSX} <= set(get["responses"]["200"]["content"])
