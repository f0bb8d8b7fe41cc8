"""Minting (local runs and tests) and verifying (every request) of JWT bearer tokens."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from shared.errors import Unauthorized
from shared.settings import AuthSettings

ALLOWED_ALGORITHMS = {"HS256", "RS256"}
LEEWAY_SECONDS = 30
# Verified tokens are remembered (every request of a client carries the same one): at most this many, each for at
# most this long and never past its own expiry. Only a byte-identical token — signature included — hits the cache.
CACHE_ENTRIES = 4096
CACHE_SECONDS = 60.0
# The identity provider issues tokens for a working day; a token that claims to live longer is not one of its own.
MAX_LIFETIME = timedelta(hours=24)
# What the audit trail and the agency columns can hold: printable, bounded (`sub` ≤ 200, an agency code ≤ 30).
_SUBJECT = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]{1,200}")
_AGENCY = re.compile(r"[A-Za-z0-9._-]{1,30}")


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
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()  # token → (principal, until)
        self._lock = threading.Lock()  # verify() also runs in threads (JWKS)

    async def verify_async(self, token: str) -> Principal:
        """As :meth:`verify`; a JWKS lookup (network I/O) runs in a thread so it never blocks the event loop."""
        cached = self._cached(token)
        if cached is not None:
            return cached
        if self._jwks is not None:
            return await asyncio.to_thread(self.verify, token)
        return self.verify(token)

    def verify(self, token: str) -> Principal:
        """The token's principal. A token verified before is answered from memory until the earliest of: its own
        expiry (`exp` + the leeway, when a full verification would start refusing it), `CACHE_SECONDS` after it was
        verified (which bounds how long a token outlives a signing key withdrawn from the JWKS), and its
        eviction. Signature, audience, issuer and required claims are fixed for a given token and
        verifier, so the answer cannot differ within that time; refusals are never remembered."""
        cached = self._cached(token)
        if cached is not None:
            return cached
        principal, expires_at = self._verify(token)
        now = time.time()
        with self._lock:
            self._verified[token] = (principal, min(expires_at + LEEWAY_SECONDS, now + CACHE_SECONDS))
            while len(self._verified) > CACHE_ENTRIES:
                self._verified.popitem(last=False)
        return principal

    def _cached(self, token: str) -> Principal | None:
        with self._lock:
            hit = self._verified.get(token)
            if hit is None:
                return None
            principal, until = hit
            if time.time() >= until:
                del self._verified[token]
                return None
            self._verified.move_to_end(token)
            return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
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
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("Token audience is not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("Token issuer is not accepted") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Token is invalid") from exc
        agency, scope, subject, expires = claims.get("agency"), claims.get("scope", ""), claims["sub"], claims["exp"]
        if not isinstance(agency, str) or not _AGENCY.fullmatch(agency) or not isinstance(scope, str):
            raise Unauthorized("Token lacks a valid 'agency' or 'scope' claim")
        if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject) or not subject.strip():
            raise Unauthorized("Token's 'sub' must be 1-200 printable characters")
        if float(expires) > time.time() + MAX_LIFETIME.total_seconds() + LEEWAY_SECONDS:
            raise Unauthorized(f"Token lives longer than {MAX_LIFETIME.total_seconds() / 3600:.0f} hours")
        principal = Principal(subject=subject, agency=agency, scopes=frozenset(scope.split()))
        return principal, float(expires)


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
