"""Opaque cursors for keyset pagination: the sort key and id of the last item, base64url-encoded JSON."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from shared.errors import ValidationFailed
from shared.text import has_nul

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
# What a `bigint` column holds: an integer query parameter naming a row id is bounded by it, so a larger one is a
# 422 rather than an overflow in the driver.
BIGINT_MAX = 2**63 - 1

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` to get the next page; null on the last")


def encode_cursor(sort: str, value: Any, ident: str) -> str:
    raw = json.dumps({"s": sort, "v": value, "id": ident}, default=str, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, parse: Callable[[Any], Any] = lambda value: value) -> tuple[Any, uuid.UUID]:
    """The (sort value, id) a cursor holds; `parse` turns the value back into its column's type."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict) or data.get("s") != sort or "id" not in data:
            raise ValueError("cursor does not match this sort")
        if has_nul(data) or _out_of_range(data["v"]):
            raise ValueError("cursor holds a value no column can")  # a hand-made cursor: NUL, or beyond bigint
        return parse(data["v"]), uuid.UUID(str(data["id"]))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "Con trỏ phân trang không hợp lệ (invalid cursor)",
            errors=[{"field": "query.cursor", "message": "invalid or from a different sort; start again without it"}],
        ) from exc


def _out_of_range(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and not -BIGINT_MAX - 1 <= value <= BIGINT_MAX
