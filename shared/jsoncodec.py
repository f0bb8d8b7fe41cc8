"""JSON on the hot paths (HTTP response bodies, JSON columns, event data), encoded and decoded by orjson.

Every status report goes through JSON six times in the registry alone: the response body, the audit row's
changes, the outbox payload, the idempotency record, the event the relay produces, and the snapshot's JSON
columns read back. The standard library's `json` did that in ~5 % of the registry's CPU per report; orjson does
the same work in a fraction of it (docs/performance.md, fix 30).

The output is the same JSON as `json.dumps(..., ensure_ascii=False, separators=(",", ":"))`: UTF-8, compact.
Two differences, both on input the system never produces: a value JSON cannot hold (NaN, ±Infinity) is written
as `null` instead of raising, and `loads` refuses NaN/Infinity literals, which are not JSON (RFC 8259) anyway.
Values that are not JSON types are written as orjson writes them (a UUID as its text, dates and times in ISO
8601, with a "T") and anything else as `str()` gives it. None of the call sites passes such values today: their
data is already JSON-ready (pydantic's `mode="json"` dumps, or JSON read back from the database).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_NON_STR_KEYS  # {1: …} is written {"1": …}, as the standard library does


def _as_text(value: Any) -> str:
    return str(value)


def dumps(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON."""
    return orjson.dumps(value, default=_as_text, option=_OPTIONS)


def dumps_text(value: Any) -> str:
    """`value` as compact JSON text: what the database driver takes for a JSON column."""
    return orjson.dumps(value, default=_as_text, option=_OPTIONS).decode()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises `json.JSONDecodeError` (orjson's error is a subclass) on anything that is not JSON,
    invalid UTF-8 included."""
    return orjson.loads(data)


class JSONBody(JSONResponse):
    """A JSON response rendered by orjson, for handlers that answer a plain dict (e.g. a stored idempotent
    outcome) rather than a response model, which FastAPI already serialises through pydantic."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
