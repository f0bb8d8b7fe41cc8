"""Typed domain errors and their one rendering: RFC 9457 ``application/problem+json``.

Domain code raises these; it never builds HTTP responses. The handlers installed by
:func:`install_error_handlers` turn every error — ours, FastAPI's validation errors, Starlette's routing
errors and anything unexpected — into a problem document without a stack trace or SQL.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared import tracing
from shared.db import database_unavailable
from shared.openapi import document_problems

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://htx-monitor.cantho.gov.vn/problems/"


class DomainError(Exception):
    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra
        self.headers: dict[str, str] = {}


class ValidationFailed(DomainError):
    status, code, title = 422, "validation-error", "Dữ liệu không hợp lệ (invalid input)"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Chưa xác thực (authentication required)"

    def __init__(self, detail: str, *, error: str = "invalid_token") -> None:
        super().__init__(detail)
        self.headers["WWW-Authenticate"] = f'Bearer error="{error}", error_description="{detail}"'


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Không có quyền (forbidden)"


class InsufficientScope(Forbidden):
    code = "insufficient-scope"

    def __init__(self, scope: str) -> None:
        super().__init__(f"Token lacks the required scope '{scope}'", required_scope=scope)
        self.headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{scope}"'


class NotFound(DomainError):
    status, code, title = 404, "not-found", "Không tìm thấy (not found)"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Xung đột (conflict)"


class PreconditionFailed(DomainError):
    status, code, title = 412, "precondition-failed", "Dữ liệu đã thay đổi (precondition failed)"


class PreconditionRequired(DomainError):
    status, code, title = 428, "precondition-required", "Thiếu If-Match (precondition required)"


class PayloadTooLarge(DomainError):
    status, code, title = 413, "payload-too-large", "Dữ liệu quá lớn (payload too large)"


class RequestBodyTimeout(DomainError):
    status, code, title = 408, "request-timeout", "Hết thời gian nhận dữ liệu (request timeout)"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"The request body did not arrive within {seconds:g} s")
        self.headers["Connection"] = "close"  # the rest of the body may still be on its way: start afresh


class HeadersTooLarge(DomainError):
    status, code, title = 431, "headers-too-large", "Tiêu đề yêu cầu quá lớn (request header fields too large)"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers["Connection"] = "close"


class TooManyRequests(DomainError):
    status, code, title = 429, "too-many-requests", "Quá nhiều yêu cầu (too many requests)"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(max(1, retry_after))


class ServiceUnavailable(DomainError):
    status, code, title = 503, "unavailable", "Dịch vụ tạm thời không sẵn sàng (unavailable)"


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    request: Request,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = tracing.current_request_id()
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "members", "official") → "members.official"; keep "query."/"header." so the source is clear.
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def _field_of(error: dict[str, Any]) -> str:
    # FastAPI locates malformed JSON by its character position ("body", 42): the field is the body itself.
    if error.get("type") == "json_invalid":
        return "body"
    return _field_path(error.get("loc", ()))


def render_problem(request: Request, exc: DomainError) -> JSONResponse:
    """The problem document of a domain error (also used outside the handlers, e.g. by the auth-first check)."""
    return problem_response(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        request,
        headers=exc.headers or None,
        errors=exc.errors,
        **exc.extra,
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return render_problem(request, exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _field_of(err), "message": err.get("msg", ""), "type": err.get("type")} for err in exc.errors()]
    fields = ", ".join(e["field"] for e in errors[:5])
    return problem_response(
        422, "validation-error", ValidationFailed.title, f"Invalid field(s): {fields}", request, errors=errors
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (FastAPI names only the first route's), for `Allow`.

    Each method is asked of the app's routes through `matches`, which an included router answers for the routes
    inside it (the app's route list holds the router, not its routes, so their `methods` are not visible).
    """
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]
    return ", ".join(allowed)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    titles = {
        404: "Không tìm thấy (not found)",
        405: "Phương thức không được hỗ trợ (method not allowed)",
        413: PayloadTooLarge.title,
    }
    return problem_response(
        exc.status_code,
        f"http-{exc.status_code}",
        titles.get(exc.status_code, "HTTP error"),
        str(exc.detail),
        request,
        headers=headers or None,
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(request, exc)


def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    """The problem for an exception no handler knows: 503 when a dependency is down, else a logged 500.

    `RequestContextMiddleware` renders it for the app, inside the request's context (so the request id is in
    the body and the headers); the handler installed for `Exception` covers what fails outside that middleware.
    """
    if database_unavailable(exc):
        # PostgreSQL restarting or unreachable: the client did nothing wrong and should retry (with the same
        # Idempotency-Key for a create); /readyz says the same to the load balancer.
        log.warning("database unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
        return problem_response(
            503,
            "unavailable",
            ServiceUnavailable.title,
            "The database is temporarily unreachable; retry shortly.",
            request,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, PoolTimeout):
        # Every pooled connection stayed busy for the pool's whole wait (settings.db_pool_timeout_seconds): the
        # service is overloaded, not broken; nothing was written for this request.
        log.warning("database pool exhausted", extra={"path": request.url.path})
        return problem_response(
            503,
            "unavailable",
            ServiceUnavailable.title,
            "The service is busy; retry shortly.",
            request,
            headers={"Retry-After": "2"},
        )
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(
        500,
        "internal-error",
        "Lỗi hệ thống (internal error)",
        "An unexpected error occurred; it has been logged with this request id.",
        request,
    )


def install_error_handlers(app: FastAPI) -> None:
    document_problems(app)  # the problem responses these handlers render, in the app's OpenAPI document
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
