"""HTTP plumbing every service installs: request/trace ids, request bounds, metrics, safe headers."""

from __future__ import annotations

import asyncio
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tracing
from shared.auth.first import authenticate, refuse
from shared.errors import HeadersTooLarge, RequestBodyTimeout, unexpected_error_response
from shared.metrics import HTTP_REQUESTS

_PROBLEM_413 = (
    b'{"type":"https://htx-monitor.cantho.gov.vn/problems/payload-too-large",'
    b'"title":"D\xe1\xbb\xaf li\xe1\xbb\x87u qu\xc3\xa1 l\xe1\xbb\x9bn (payload too large)","status":413,'
    b'"detail":"Request body exceeds the limit"}'
)

MAX_HEADER_COUNT = 100
MAX_HEADER_BYTES = 16 * 1024  # names and values together; a bearer token is ~1 KiB
BODY_TIMEOUT_SECONDS = 60.0  # a whole body, from the first read: a stalled or trickling upload is refused (408)
CLIENT_REQUEST_ID_LENGTH = 64


class RequestContextMiddleware:
    """Pure ASGI (so streaming responses such as SSE are not buffered).

    Assigns the request id (the server's own; a client's ``X-Request-ID`` is kept beside it as
    ``X-Client-Request-ID``) and the trace context for logs and outgoing events; refuses oversized header sets
    (431), an API request without a valid bearer token (401, before routing or reading the body:
    ``shared.auth.first``), bodies above the limit (413) and bodies that do not arrive in time (408); renders an
    unexpected error as a 500 problem carrying the request id; records latency per route; adds security headers
    and keeps every ``Location`` relative, so no redirect takes its host from the request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int,
        route_limits: dict[str, int] | None = None,
        body_timeout_seconds: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.route_limits = route_limits or {}  # e.g. a file import accepts more than a JSON body
        self.body_timeout_seconds = body_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _wanted_headers(scope)
        request_id = secrets.token_hex(16)  # never the client's: the audit trail must not share ids across callers
        client_request_id = client_request_id_of(headers.get(b"x-request-id"))
        traceparent = tracing.child_of(headers.get(b"traceparent"))
        rid_token = tracing.set_request_id(request_id)
        crid_token = tracing.set_client_request_id(client_request_id)
        tp_token = tracing.set_traceparent(traceparent)
        started = time.perf_counter()
        status_holder = {"status": 500}
        response_started = False

        limit = self.route_limits.get(scope["path"], self.max_body_bytes)
        received = 0
        body_deadline: float | None = None
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_deadline, body_done
            if body_done:  # after the body only `http.disconnect` comes, which a stream awaits as long as it runs
                return await receive()
            if body_deadline is None:
                body_deadline = asyncio.get_running_loop().time() + self.body_timeout_seconds
            try:
                async with asyncio.timeout_at(body_deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestBodyTimeout(self.body_timeout_seconds) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        extra = [
            (b"x-request-id", request_id.encode()),
            (b"traceparent", traceparent.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
        ]
        if client_request_id:
            extra.append((b"x-client-request-id", client_request_id.encode()))

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder["status"] = message["status"]
                message["headers"] = [_relative_location(h) for h in message.get("headers", [])] + extra
            await send(message)

        try:
            declared = headers.get(b"content-length")
            oversized = _oversized_headers(scope)
            refusal = oversized or await authenticate(scope)  # before routing and before the body is read
            if refusal is not None:
                await refuse(scope, receive, send_wrapper, refusal)
            elif declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
                await self._reject_too_large(send_wrapper)
            else:
                await self.app(scope, limited_receive, send_wrapper)
        except Exception as exc:
            if response_started:
                raise  # nothing better to send: the server ends the half-sent response
            # Rendered here rather than by Starlette's outermost error middleware, which runs after this
            # middleware has finished (so the response would have no request id) and re-raises the error to the
            # server, which then drops the kept-alive connection.
            response = unexpected_error_response(Request(scope), exc)
            await response(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, scope["method"], path, str(status_holder["status"])).observe(
                time.perf_counter() - started
            )
            tracing.reset_request_id(rid_token)
            tracing.reset_client_request_id(crid_token)
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


def client_request_id_of(value: str | None) -> str | None:
    """The client's own request id, for correlation only: visible ASCII, at most 64 characters, else nothing."""
    if not value:
        return None
    kept = "".join(c for c in value[:CLIENT_REQUEST_ID_LENGTH] if "!" <= c <= "~")
    return kept or None


def _oversized_headers(scope: Scope) -> HeadersTooLarge | None:
    headers = scope["headers"]
    if len(headers) > MAX_HEADER_COUNT:
        return HeadersTooLarge(f"More than {MAX_HEADER_COUNT} request headers")
    if sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
        return HeadersTooLarge(f"Request headers exceed {MAX_HEADER_BYTES} bytes")
    return None


def _relative_location(header: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    """`Location` without scheme and host: a redirect built from the request's URL (Starlette's trailing-slash
    redirect, `url_for`) would otherwise send the client to whatever `Host` it was sent."""
    name, value = header
    if name.lower() != b"location":
        return header
    parts = urlsplit(value.decode("latin-1"))
    if not (parts.scheme or parts.netloc):
        return header
    # One leading slash: `//evil.example/x` would be read as another host.
    path = "/" + parts.path.lstrip("/")
    return name, urlunsplit(("", "", path, parts.query, parts.fragment)).encode("latin-1")


class _BodyTooLarge(HTTPException):
    """Raised while the app reads the body; FastAPI lets HTTP exceptions through, so it renders as a 413 problem."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Request body exceeds the limit")
