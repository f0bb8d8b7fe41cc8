"""FastAPI dependencies: every endpoint declares the scope it needs with ``require_scope``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from shared.auth.first import bearer_token, missing_token, verified_principal
from shared.auth.tokens import Principal
from shared.errors import InsufficientScope


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    # Only the request as parameter, not `Security(HTTPBearer())`: the middleware has already verified the token
    # of every `/v1` request (`shared.auth.first`), and a security sub-dependency cost FastAPI a second dependency
    # to solve on every request (docs/performance.md). The OpenAPI document still declares the bearer
    # scheme on every `/v1` operation (`shared.openapi`).
    async def dependency(request: Request) -> Principal:
        token = bearer_token(request.scope)
        if token is None:
            raise missing_token()  # the same document the auth-first check sends (shared.auth.first)
        principal = await verified_principal(request, token)  # verified once per request
        if not principal.has(scope):
            raise InsufficientScope(scope)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency
