"""Bearer-token authentication and scope checks shared by the three services.

Tokens are JWTs whose claims name the caller (``sub``), the agency it acts for (``agency``, e.g. ``SNN`` or
``UBND-916``) and its scopes (``scope``, space separated, e.g. ``"registry:read registry:write"``). The
algorithm is pinned by configuration — a token's own ``alg`` header is never trusted, so ``alg=none`` and
algorithm-confusion tokens are refused. Missing or invalid token → 401; valid token without the scope → 403.
Object-level rules (which agency may write which cooperative) live in each service's domain.
"""

from __future__ import annotations

from shared.auth.dependencies import require_scope
from shared.auth.tokens import Principal, TokenVerifier, mint_token

__all__ = ["Principal", "TokenVerifier", "mint_token", "require_scope"]
