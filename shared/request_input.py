"""Reading a request's input by hand, for a route that skips FastAPI's parameter binding.

FastAPI binds each declared parameter (path, header, body, each dependency) through its generic machinery on
every request; on the system's hot path (a status report) that was ~11 % of the registry's CPU per request
(docs/performance.md, fix 31). A route that takes only `request: Request` reads its input with these instead.
They fail as FastAPI would: a `RequestValidationError` with the same locations (`("body", field…)`,
`("header", name)`), which the shared handler renders as the usual 422 problem naming each field. The route
documents its input with `shared.openapi.reads_own_input`, so the OpenAPI document is what FastAPI would write.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """The body, validated as `model` straight from its JSON bytes (pydantic's JSON mode)."""
    raw = await request.body()
    if not raw:
        raise _invalid("missing", ("body",), "Field required")
    if not _is_json(request.headers.get("content-type")):
        # FastAPI (strict content type) would not parse it either, and would answer that it is not an object.
        raise _invalid("content_type", ("body",), "Content-Type must be application/json")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


def header(request: Request, name: str, *, min_length: int, max_length: int) -> str | None:
    """An optional header's value (None when absent), within the declared length."""
    value = request.headers.get(name)
    if value is None:
        return None
    if len(value) < min_length:
        raise _invalid("string_too_short", ("header", name), f"String should have at least {min_length} characters")
    if len(value) > max_length:
        raise _invalid("string_too_long", ("header", name), f"String should have at most {max_length} characters")
    return value


def _is_json(content_type: str | None) -> bool:
    """application/json or any application/…+json, parameters (charset) ignored — FastAPI's own test."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _invalid(kind: str, loc: tuple[Any, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message, "input": None}])
