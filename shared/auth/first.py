"""Authenticate first: an API request (`/v1/…`) without a bearer token is refused before routing.

FastAPI matches the route and parses the body before it runs the `require_scope` dependency, so without this an
anonymous caller would learn that a path does not exist (404) or hear about its body (400/422) instead of being
told to authenticate. The refusal is the very problem document the dependency renders (`missing_token`).
Only presence is checked here; the token itself is verified by the dependency. The operations endpoints
(`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/asyncapi.json`, `/docs`) are not under `/v1` and stay public.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from shared.errors import Unauthorized, render_problem

API_PREFIX = "/v1"


def missing_token() -> Unauthorized:
    return Unauthorized("A bearer token is required", error="invalid_request")


def lacks_bearer(scope: Scope) -> bool:
    """Whether an HTTP request to the API carries no `Authorization: Bearer <token>` (as HTTPBearer reads it)."""
    path: str = scope["path"]
    if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
        return False
    for name, value in scope["headers"]:
        if name == b"authorization":  # ASGI header names are lower-case; the first one counts, as in Starlette
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return scheme.lower() != "bearer" or not credentials
    return True


async def refuse_without_token(scope: Scope, receive: Receive, send: Send) -> None:
    response = render_problem(Request(scope), missing_token())
    await response(scope, receive, send)
