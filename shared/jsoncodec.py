"""JSON on the hot paths (HTTP response bodies, JSON columns, event data), encoded and decoded by orjson.

Every status report goes through JSON several times in the registry alone: the response body, the audit
row's changes, the outbox payload and the event the relay produces. The standard library's `json` took 4.4 %
of the registry's samples per report; orjson does the same work in a fraction of it (docs/performance.md).

What `dumps` writes is the JSON value `json.dumps(..., ensure_ascii=False, separators=(",", ":"))` wrote, as
compact UTF-8, and for strings, integers, booleans, null and the floats the system stores the very same bytes.
Where the two differ, on values the call sites do not pass today (their data is already JSON-ready: pydantic's
`mode="json"` dumps, or JSON read back from the database):
- a float between 1e-5 and 1e-7 is written without an exponent (`0.00001`, not `1e-05`): the same number;
- NaN and ±Infinity, which JSON cannot hold, are written as `null` (the standard library wrote `NaN`, which
  PostgreSQL then refused);
- values that are not JSON types are written as orjson writes them natively (datetimes in RFC 3339 with a
  "T", UUIDs as text, enums by value, dataclasses as objects) and anything else as `str()` gives it;
- an integer outside 64 bits, which orjson cannot write, is written by the standard library instead.
`loads` reads any JSON; NaN/Infinity literals (not JSON, RFC 8259) are refused, and an integer outside 64
bits comes back as a float. That is why input that may carry arbitrary numbers is bounded where it is
validated (e.g. the plans' conditions: `services.indicators.domain.plans`).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_NON_STR_KEYS  # {1: …} is written {"1": …}, as the standard library does


def dumps(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: what the standard library wrote before
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def dumps_text(value: Any) -> str:
    """`value` as compact JSON text: what the database driver takes for a JSON column."""
    return dumps(value).decode()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises `json.JSONDecodeError` (orjson's error is a subclass) on anything that is not JSON,
    invalid UTF-8 included."""
    return orjson.loads(data)


class JSONBody(JSONResponse):
    """A JSON response rendered by orjson, for handlers that answer a plain dict (e.g. a stored idempotent
    outcome) rather than a response model, which FastAPI already serialises through pydantic."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
