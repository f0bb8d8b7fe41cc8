"""HTTP plumbing every service installs: request/trace ids, body-size limit, metrics, safe headers."""

from __future__ import annotations

import secrets
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tracing
from shared.auth.first import authenticate, refuse
from shared.metrics import HTTP_REQUESTS

_PROBLEM_413 = (
    b'{"type":"https://htx-monitor.cantho.gov.vn/problems/payload-too-large",'
    b'"title":"D\xe1\xbb\xaf li\xe1\xbb\x87u qu\xc3\xa1 l\xe1\xbb\x9bn (payload too large)","status":413,'
    b'"detail":"Request body exceeds the limit"}'
)


class RequestContextMiddleware:
    """Pure ASGI (so streaming responses such as SSE are not buffered).

    Sets the request id and trace context for logs and outgoing events, refuses an API request without a valid
    bearer token (401, before routing or reading the body: ``shared.auth.first``) and bodies above the limit (413)
    before the app reads them, records latency per route, and adds security headers.
    """

    def __init__(
        self, app: ASGIApp, *, service: str, max_body_bytes: int, route_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.route_limits = route_limits or {}  # e.g. a file import accepts more than a JSON body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _wanted_headers(scope)
        request_id = headers.get(b"x-request-id", "")[:64] or secrets.token_hex(16)
        traceparent = tracing.child_of(headers.get(b"traceparent"))
        rid_token = tracing.set_request_id(request_id)
        tp_token = tracing.set_traceparent(traceparent)
        started = time.perf_counter()
        status_holder = {"status": 500}

        limit = self.route_limits.get(scope["path"], self.max_body_bytes)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                extra = [
                    (b"x-request-id", request_id.encode()),
                    (b"traceparent", traceparent.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"cache-control", b"no-store"),
                ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            declared = headers.get(b"content-length")
            refusal = await authenticate(scope)  # authenticate first: before routing and before the body is read
            if refusal is not None:
                await refuse(scope, receive, send_wrapper, refusal)
            elif declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
                await self._reject_too_large(send_wrapper)
            else:
                await self.app(scope, limited_receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], path, str(status_holder["status"])).observe(
                time.perf_counter() - started
            )
            tracing.reset_request_id(rid_token)
            tracing.reset_traceparent(tp_token)

    async def _reject_too_large(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(_PROBLEM_413)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _PROBLEM_413})


_WANTED = frozenset({b"x-request-id", b"traceparent", b"content-length"})


def _wanted_headers(scope: Scope) -> dict[bytes, str]:
    """The few request headers the middleware reads (ASGI names are lower-case; the first of each counts)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _WANTED and name not in found:
            found[name] = value.decode("latin-1")
    return found


class _BodyTooLarge(HTTPException):
    """Raised while the app reads the body; FastAPI lets HTTP exceptions through, so it renders as a 413 problem."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Request body exceeds the limit")
