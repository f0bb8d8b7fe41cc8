"""Helpers for registry tests: tokens, unique registration codes, valid bodies."""

from __future__ import annotations

import io
import random
import zipfile
from datetime import UTC, datetime
from typing import Any

import openpyxl

from shared.auth import mint_token
from shared.clock import FixedClock
from shared.settings import AuthSettings

TODAY = datetime(2025, 7, 15, 3, 0, tzinfo=UTC)  # 15/07/2025 10:00 in Cần Thơ

DISTRICTS = ["916", "917", "918", "919", "923", "924", "925", "926", "927"]
AGENCIES = ["SNN", "SKHDT", "STC", "SCT", "LMHTX", "MTTQ", *[f"UBND-{d}" for d in DISTRICTS]]


def clock() -> FixedClock:
    return FixedClock(TODAY)


def auth(agency: str = "SNN", scopes: str = "registry:read registry:write") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(AuthSettings(), agency=agency, scopes=scopes)}"}


_rng = random.Random()


def registration_code() -> str:
    return "18" + "".join(_rng.choice("0123456789") for _ in range(8))


def cooperative_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "registration_code": registration_code(),
        "name": "Hợp tác xã Nông nghiệp Mỹ Khánh",
        "unit_code": "926",
        "address": "Ấp Mỹ Ái, xã Mỹ Khánh, huyện Phong Điền",
        "sector": "cultivation",
        "established_on": "2015-03-12",
        "legal_status": "active",
        "contact_name": "Nguyễn Văn Ba",
    }
    body.update(overrides)
    return body


def status_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "as_of": "2025-06-30",
        "period": "2025-H1",
        "members_official": 42,
        "members_associate": 15,
        "charter_capital_vnd": 1_200_000_000,
        "revenue_vnd": 3_500_000_000,
        "farmland_ha": "85.50",
        "production_value_vnd": 9_800_000_000,
        "classification": "fair",
        "is_model": True,
        "enterprise_linked": True,
        "enterprise_partners": ["Công ty CP Nông sản Cần Thơ"],
        "high_tech_or_gap": True,
        "certifications": ["VietGAP"],
        "ecommerce": False,
        "ocop_products": 1,
        "managers_total": 7,
        "managers_trained": 3,
        "managers_female": 2,
        "managers_under_35": 1,
    }
    body.update(overrides)
    return body


def xlsx_with_sheet_body(headers: list[str], body: bytes) -> bytes:
    """A real workbook of one header row whose sheet XML gets `body` appended inside <sheetData> (rows a client
    could not write with openpyxl: millions of empty ones, far row numbers)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(headers)
    out = io.BytesIO()
    book.save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", body + b"</sheetData>")
            target.writestr(info.filename, data)
    return result.getvalue()
