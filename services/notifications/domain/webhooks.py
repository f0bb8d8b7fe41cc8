"""Signed webhook requests (the receiver's side is documented, with verification code, in docs/webhooks.md).

    POST <url>
    Content-Type: application/json; charset=utf-8
    X-HTX-Event: alert.opened
    X-HTX-Delivery: 6f1c…            (the delivery id: identical on every retry — receivers de-duplicate on it)
    X-HTX-Timestamp: 1752548400      (unix seconds of this attempt)
    X-HTX-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

2xx means accepted. 408, 429, 5xx, timeouts and connection errors are retried with backoff; any other status
(3xx included: redirects are not followed, the URL must be exact) is a permanent failure. So is a destination
the outbound policy refuses (shared/outbound.py): the attempt then records the refusal, and no request is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

import httpx

from services.notifications.domain.outcome import Outcome
from shared.outbound import AddressRefused

RETRYABLE_STATUS = {408, 429}
USER_AGENT = "HTX-Monitor-Webhooks/1.0"


def body_bytes(event: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (UTF-8 JSON, Vietnamese left unescaped)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(secret: str, *, delivery_id: str, event_type: str, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-HTX-Event": event_type,
        "X-HTX-Delivery": delivery_id,
        "X-HTX-Timestamp": timestamp,
        "X-HTX-Signature": signature(secret, timestamp, body),
    }


async def post(
    client: httpx.AsyncClient,
    url: str,
    secret: str | None,
    *,
    delivery_id: str,
    event: dict[str, Any],
    now: datetime,
    budget: float,
) -> Outcome:
    """One attempt, within `budget` seconds in all (httpx's timeouts bound each read, not a receiver that
    answers a byte at a time)."""
    if not secret:
        return Outcome.permanent("webhook channel has no secret (or no longer exists)")
    body = body_bytes(event)
    headers = signed_headers(secret, delivery_id=delivery_id, event_type=str(event["type"]), body=body, now=now)
    try:
        # Streamed, and the body never read: a receiver's answer is its status code, whatever it sends along.
        async with asyncio.timeout(budget), client.stream("POST", url, content=body, headers=headers) as response:
            status = response.status_code
            retry_after = _retry_after(response.headers.get("retry-after"))
    except AddressRefused as refused:
        return Outcome.permanent(refused.reason)
    except TimeoutError:
        return Outcome.transient(f"timeout (no answer within {budget:g} s)")
    except httpx.TimeoutException as exc:
        return Outcome.transient(f"timeout ({type(exc).__name__})")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return Outcome.permanent(f"invalid webhook URL: {exc}")
    except httpx.TransportError as exc:
        return Outcome.transient(f"connection error: {type(exc).__name__}: {exc}"[:500])
    detail = f"HTTP {status}"
    if 200 <= status < 300:
        return Outcome.success(detail)
    if status in RETRYABLE_STATUS or status >= 500:
        return Outcome.transient(detail, retry_after=retry_after)
    return Outcome.permanent(detail)


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP-date form is rare for webhooks; our own backoff applies
    return float(value.strip())
