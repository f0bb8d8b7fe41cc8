"""shared.request_input on real Starlette requests: what a route that reads its own input answers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.types import Message

from shared.request_input import OptionalHeader, read_input

KEY = OptionalHeader("Idempotency-Key", 8, 200)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int


def request(messages: list[Message], headers: dict[str, str] | None = None) -> Request:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""}
    return Request(scope, receive)


def body(content: bytes) -> list[Message]:
    return [{"type": "http.request", "body": content, "more_body": False}]


JSON = {"content-type": "application/json"}


async def test_a_valid_body_and_header_are_read() -> None:
    data, headers = await read_input(request(body(b'{"count": 3}'), JSON | {"Idempotency-Key": "k" * 8}), Body, (KEY,))
    assert data == Body(count=3)
    assert headers == {"Idempotency-Key": "k" * 8}


async def test_an_absent_header_is_none() -> None:
    _, headers = await read_input(request(body(b'{"count": 3}'), JSON), Body, (KEY,))
    assert headers == {"Idempotency-Key": None}


@pytest.mark.parametrize(
    ("content", "extra", "locations"),
    [
        (b'{"count": "x"}', {}, [("body", "count")]),
        (b'{"count": 1, "more": 2}', {}, [("body", "more")]),
        (b"{", {}, [("body",)]),
        (b"", {}, [("body",)]),
        (b'{"count": 1}', {"content-type": "text/plain"}, [("body",)]),
        (b'{"count": "x"}', {"Idempotency-Key": "short"}, [("header", "Idempotency-Key"), ("body", "count")]),
        (b'{"count": 1}', {"Idempotency-Key": "k" * 201}, [("header", "Idempotency-Key")]),
    ],
)
async def test_every_error_is_named_in_one_validation_error(
    content: bytes, extra: dict[str, str], locations: list[tuple[str, ...]]
) -> None:
    with pytest.raises(RequestValidationError) as raised:
        await read_input(request(body(content), JSON | extra), Body, (KEY,))
    assert [tuple(e["loc"]) for e in raised.value.errors()] == locations


async def test_a_client_that_leaves_mid_body_is_a_400_not_an_unexpected_error() -> None:
    partial: list[Message] = [{"type": "http.request", "body": b'{"cou', "more_body": True}]
    with pytest.raises(HTTPException) as raised:
        await read_input(request(partial, JSON), Body)
    assert raised.value.status_code == 400
