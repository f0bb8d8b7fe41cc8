"""Minting (local runs and tests) and verifying (every request) of JWT bearer tokens."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from shared.errors import Unauthorized
from shared.settings import AuthSettings

ALLOWED_ALGORITHMS = {"HS256", "RS256"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, the agency it acts for and what it may do."""

    subject: str
    agency: str
    scopes: frozenset[str] = field(default_factory=frozenset)

    def has(self, scope: str) -> bool:
        return scope in self.scopes


class TokenVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        if settings.jwt_algorithm not in ALLOWED_ALGORITHMS:
            raise ValueError(f"HTX_JWT_ALGORITHM must be one of {sorted(ALLOWED_ALGORITHMS)}")
        self._settings = settings
        self._algorithm = settings.jwt_algorithm
        self._jwks: jwt.PyJWKClient | None = None
        self._key: str | None = None
        if self._algorithm == "RS256":
            if not settings.jwt_jwks_url:
                raise ValueError("RS256 needs HTX_JWT_JWKS_URL")
            self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True)
        else:
            self._key = settings.signing_secret()

    async def verify_async(self, token: str) -> Principal:
        """As :meth:`verify`; a JWKS lookup (network I/O) runs in a thread so it never blocks the event loop."""
        if self._jwks is not None:
            return await asyncio.to_thread(self.verify, token)
        return self.verify(token)

    def verify(self, token: str) -> Principal:
        try:
            key: Any = self._key
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=[self._algorithm],
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("Token audience is not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("Token issuer is not accepted") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Token is invalid") from exc
        agency = claims.get("agency")
        scope = claims.get("scope", "")
        if not isinstance(agency, str) or not agency or not isinstance(scope, str):
            raise Unauthorized("Token lacks a valid 'agency' or 'scope' claim")
        return Principal(subject=str(claims["sub"]), agency=agency, scopes=frozenset(scope.split()))


def mint_token(
    settings: AuthSettings,
    *,
    agency: str,
    scopes: str,
    subject: str | None = None,
    ttl: timedelta = timedelta(hours=8),
    now: datetime | None = None,
) -> str:
    """A signed HS256 token for local runs and tests (deployments get tokens from the city's identity provider)."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": subject or f"{agency.lower()}-officer",
        "agency": agency,
        "scope": scopes,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": issued,
        "nbf": issued - timedelta(seconds=5),
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.signing_secret(), algorithm="HS256")
