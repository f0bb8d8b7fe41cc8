"""W3C trace context carried through HTTP requests and Kafka headers.

One ``traceparent`` per unit of work: taken from the incoming request or event when present, otherwise
started fresh. Logs include its trace id, the outbox copies it into every event it publishes, and
consumers adopt it while they handle the event, so one id follows a change across all three services.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar, Token

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("traceparent", default=None)
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_client_request_id: ContextVar[str | None] = ContextVar("client_request_id", default=None)


def new_traceparent(trace_id: str | None = None) -> str:
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_of(traceparent: str | None) -> str:
    """A new span id under the caller's trace, or a new trace when the header is absent or malformed."""
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip().lower())
        if match and match.group(1) != "0" * 32:
            return new_traceparent(match.group(1))
    return new_traceparent()


def trace_id(traceparent: str | None) -> str | None:
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent)
    return match.group(1) if match else None


def current_traceparent() -> str | None:
    return _current.get()


def set_traceparent(value: str | None) -> Token[str | None]:
    return _current.set(value)


def reset_traceparent(token: Token[str | None]) -> None:
    _current.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> Token[str | None]:
    return _request_id.set(value)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)


def current_client_request_id() -> str | None:
    """The id the client sent in `X-Request-ID` (sanitised): for correlating logs, never an audit key."""
    return _client_request_id.get()


def set_client_request_id(value: str | None) -> Token[str | None]:
    return _client_request_id.set(value)


def reset_client_request_id(token: Token[str | None]) -> None:
    _client_request_id.reset(token)
