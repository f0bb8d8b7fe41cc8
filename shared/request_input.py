"""Reading a request's input by hand, for a route that skips FastAPI's parameter binding.

FastAPI binds each declared parameter (path, header, body, each dependency) through its generic machinery on
every request; on the system's hot path (a status report) that was ~11 % of the registry's CPU per request
(docs/performance.md, fix 31). A route that takes only `request: Request` reads its input with `read_input`
instead. It fails as FastAPI's binding does: every invalid header and the body's errors together, in one
`RequestValidationError` with FastAPI's locations (`("header", name)`, `("body", field…)`), which the shared
handler renders as the usual 422 problem naming each field. The route documents its input with
`shared.openapi`'s `json_request_body` / `header_parameter` / `uuid_path_parameter`, so the OpenAPI document
is what FastAPI would write.

Where it differs from FastAPI, on purpose (docs/decisions.md): the body is validated straight from its bytes
by pydantic's JSON parser, which reads UTF-8 only (RFC 8259; a UTF-8 byte-order mark is skipped), so a body
in another encoding, or not valid UTF-8, is a 422 on `body` where FastAPI answered 400 or guessed the
encoding; malformed JSON is a 422 on `body` rather than on a character position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

M = TypeVar("M", bound=BaseModel)

_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class OptionalHeader:
    """An optional string header and its allowed length, as `Header(None, alias=name, min_length, max_length)`."""

    name: str
    min_length: int
    max_length: int


async def read_input(
    request: Request, body: type[M], headers: tuple[OptionalHeader, ...] = ()
) -> tuple[M, dict[str, str | None]]:
    """The body validated as `body`, and each header's value (None when absent); or one 422 naming everything
    that is wrong with them."""
    errors: list[dict[str, Any]] = []
    values = {header.name: _header(request, header, errors) for header in headers}
    data = await _json_body(request, body, errors)
    if errors or data is None:
        raise RequestValidationError(errors)
    return data, values


def _header(request: Request, header: OptionalHeader, errors: list[dict[str, Any]]) -> str | None:
    value = request.headers.get(header.name)
    if value is None:
        return None
    loc = ("header", header.name)
    if len(value) < header.min_length:
        errors.append(_error("string_too_short", loc, f"String should have at least {header.min_length} characters"))
    elif len(value) > header.max_length:
        errors.append(_error("string_too_long", loc, f"String should have at most {header.max_length} characters"))
    return value


async def _json_body(request: Request, model: type[M], errors: list[dict[str, Any]]) -> M | None:
    try:
        raw = await request.body()
    except ClientDisconnect:
        # The client went away mid-body: FastAPI's own answer (nobody reads it), not an unexpected error.
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from None
    if not raw:
        errors.append(_error("missing", ("body",), "Field required"))
        return None
    if not _is_json(request.headers.get("content-type")):
        # FastAPI (strict content type) would not parse it either, and would answer that it is not an object.
        errors.append(_error("content_type", ("body",), "Content-Type must be application/json"))
        return None
    try:
        return model.model_validate_json(raw.removeprefix(_UTF8_BOM))
    except ValidationError as exc:
        errors.extend({**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False))
        return None


def _is_json(content_type: str | None) -> bool:
    """application/json or any application/…+json, parameters (charset) ignored — FastAPI's own test."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _error(kind: str, loc: tuple[Any, ...], message: str) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": message, "input": None}
