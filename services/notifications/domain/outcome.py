"""What one delivery attempt came to: accepted, worth retrying, or refused for good."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retry: bool
    detail: str
    retry_after: float | None = None
    """Seconds the receiver asked us to wait (HTTP `Retry-After`); the backoff never waits less."""

    @classmethod
    def success(cls, detail: str) -> Outcome:
        return cls(ok=True, retry=False, detail=detail)

    @classmethod
    def transient(cls, detail: str, *, retry_after: float | None = None) -> Outcome:
        return cls(ok=False, retry=True, detail=detail, retry_after=retry_after)

    @classmethod
    def permanent(cls, detail: str) -> Outcome:
        return cls(ok=False, retry=False, detail=detail)
