"""shared.jsoncodec writes the JSON the standard library wrote, and refuses what is not JSON the same way."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

import pytest

from shared import jsoncodec
from shared.jsoncodec import JSONBody

PAYLOAD = {
    "name": "HTX Nông nghiệp Thới Lai — “mô hình điểm”",
    "unit_code": "926",
    "classification": "kha",
    "members": 120,
    "revenue_vnd": 12_500_000_000,
    "farmland_ha": 85.5,
    "is_model": True,
    "closed_at": None,
    "certifications": ["VietGAP", "OCOP 4 sao"],
    "nested": {"a": [1, 2.25, {"b": '\u0000\n\t"\\'}]},
}


def stdlib(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def test_dumps_writes_what_the_standard_library_wrote() -> None:
    assert jsoncodec.dumps(PAYLOAD) == stdlib(PAYLOAD)
    assert jsoncodec.dumps_text(PAYLOAD) == stdlib(PAYLOAD).decode()
    assert json.loads(jsoncodec.dumps(PAYLOAD)) == PAYLOAD


def test_non_json_values_and_keys() -> None:
    ident = uuid.UUID("0b7d9a52-3f0e-4c52-9a55-2f0f3c1f7d11")
    value = {1: "one", "id": ident, "day": date(2025, 6, 30), "amount": Decimal("85.50")}
    assert jsoncodec.loads(jsoncodec.dumps(value)) == {
        "1": "one",
        "id": str(ident),
        "day": "2025-06-30",
        "amount": "85.50",
    }


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b"{", b"{'a': 1}", b"NaN", b""])
def test_loads_refuses_what_is_not_json(raw: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        jsoncodec.loads(raw)


def test_loads_reads_bytes_and_text() -> None:
    assert jsoncodec.loads(stdlib(PAYLOAD)) == PAYLOAD
    assert jsoncodec.loads(stdlib(PAYLOAD).decode()) == PAYLOAD


def test_json_body_renders_by_the_codec() -> None:
    response = JSONBody(PAYLOAD, status_code=201, headers={"ETag": '"x"'})
    assert response.body == stdlib(PAYLOAD)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(stdlib(PAYLOAD)))
