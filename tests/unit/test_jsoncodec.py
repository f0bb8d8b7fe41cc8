"""shared.jsoncodec writes the JSON the standard library wrote, and refuses what is not JSON the same way."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from shared import jsoncodec
from shared.events.envelope import CloudEvent, MalformedEvent, from_record, to_headers
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
    at = datetime(2025, 6, 30, 1, 2, 3, tzinfo=UTC)
    value = {1: "one", "id": ident, "day": date(2025, 6, 30), "at": at, "amount": Decimal("85.50")}
    assert jsoncodec.loads(jsoncodec.dumps(value)) == {
        "1": "one",
        "id": str(ident),
        "day": "2025-06-30",
        "at": "2025-06-30T01:02:03+00:00",
        "amount": "85.50",
    }


def test_integers_beyond_64_bits_are_written_as_before() -> None:
    value = {"big": 10**20, "small": -(2**70), "name": "Ô Môn"}
    assert jsoncodec.dumps(value) == stdlib(value)
    assert jsoncodec.dumps_text([2**64]) == "[18446744073709551616]"


def test_what_json_cannot_hold() -> None:
    assert jsoncodec.dumps([math.nan, math.inf, -math.inf]) == b"[null,null,null]"
    assert jsoncodec.loads(jsoncodec.dumps(1e-05)) == 1e-05  # written 0.00001: the same number


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b"{", b"{'a': 1}", b"NaN", b""])
def test_loads_refuses_what_is_not_json(raw: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        jsoncodec.loads(raw)


def test_loads_reads_bytes_and_text() -> None:
    assert jsoncodec.loads(stdlib(PAYLOAD)) == PAYLOAD
    assert jsoncodec.loads(stdlib(PAYLOAD).decode()) == PAYLOAD


def test_an_event_whose_data_is_not_utf8_is_malformed() -> None:
    event = CloudEvent(type="t", source="/htx-monitor/test", id="1", data={})
    with pytest.raises(MalformedEvent, match="not JSON"):
        from_record(to_headers(event), b'{"name": "\xff"}')


def test_json_body_renders_by_the_codec() -> None:
    ident = uuid.uuid4()
    assert JSONBody({"id": ident}).body == b'{"id":"' + str(ident).encode() + b'"}'  # json.dumps would refuse it
    response = JSONBody(PAYLOAD, status_code=201, headers={"ETag": '"x"'})
    assert response.body == stdlib(PAYLOAD)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(stdlib(PAYLOAD)))
