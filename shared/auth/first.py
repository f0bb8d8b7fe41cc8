"""Authenticate first: an API request (`/v1/…`) without a valid bearer token is refused before routing.

FastAPI matches the route and parses the body before it runs the `require_scope` dependency, so without this an
anonymous caller (or one with a forged token) would learn that a path does not exist (404) or hear about its body
(400/422) instead of being told to authenticate. `RequestContextMiddleware` calls :func:`authenticate` first; the
refusal is the very problem document the dependency would render (`missing_token`, or the verifier's own 401).
A token whose agency the service does not know as active is refused the same way (`shared.auth.agencies`).
The verified principal is kept on the request, so the dependency checks the scope without verifying again.
The operations endpoints (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/asyncapi.json`, `/docs`) are not
under `/v1` and stay public.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from shared.auth.agencies import check_agency
from shared.auth.tokens import Principal, TokenVerifier
from shared.errors import DomainError, Unauthorized, render_problem
from shared.openapi import API_PREFIX

_VERIFIED = "verified_bearer"  # request state: (token, principal) once the token has been verified


def missing_token() -> Unauthorized:
    return Unauthorized("A bearer token is required", error="invalid_request")


def is_api(scope: Scope) -> bool:
    path: str = scope["path"]
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def bearer_token(scope: Scope) -> str | None:
    """The token of `Authorization: Bearer <token>` (the first such header counts; the scheme is case-insensitive,
    and the token is what follows the first space, as sent)."""
    for name, value in scope["headers"]:
        if name == b"authorization":  # ASGI header names are lower-case
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials if scheme.lower() == "bearer" and credentials else None
    return None


async def verified_principal(request: Request, token: str) -> Principal:
    """The token's principal: verified once per request (by :func:`authenticate`, or here), its agency one this
    service knows as active (:mod:`shared.auth.agencies`)."""
    verified = getattr(request.state, _VERIFIED, None)
    if verified is not None and verified[0] == token:
        principal: Principal = verified[1]
        return principal
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify_async(token)
    await check_agency(request.app, principal.agency)
    setattr(request.state, _VERIFIED, (token, principal))
    return principal


async def authenticate(scope: Scope) -> DomainError | None:
    """None if the request may go on (not an API request, or its token verifies); otherwise why it may not."""
    if not is_api(scope):
        return None
    token = bearer_token(scope)
    if token is None:
        return missing_token()
    try:
        await verified_principal(Request(scope), token)
    except DomainError as exc:  # bad token or unknown agency (401); key server or database down (503)
        return exc
    return None


async def refuse(scope: Scope, receive: Receive, send: Send, problem: DomainError) -> None:
    await render_problem(Request(scope), problem)(scope, receive, send)
