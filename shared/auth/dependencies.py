"""FastAPI dependencies: every endpoint declares the scope it needs with ``require_scope``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.first import missing_token, verified_principal
from shared.auth.tokens import Principal
from shared.errors import InsufficientScope

# auto_error=False: we raise our own 401 problem document instead of FastAPI's plain 403.
bearer = HTTPBearer(auto_error=False, description="JWT bearer token (`make token` mints one locally)")


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    # Declared through Security(), so OpenAPI shows every operation as bearer-protected.
    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise missing_token()  # the same document the auth-first check sends (shared.auth.first)
        principal = await verified_principal(request, credentials.credentials)  # verified once per request
        if not principal.has(scope):
            raise InsufficientScope(scope)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency
