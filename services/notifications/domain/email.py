"""E-mail over SMTP with aiosmtplib: UTF-8 plain text, Vietnamese subject and body intact.

The message is built with the classic (compat32) `MIMEText` + `Header` API rather than `EmailMessage`: on
Python 3.11 the new policy's header folder drops the space between two RFC 2047 encoded words, so a long
Vietnamese subject arrives as "…2025:3 thông báo" (most subjects of our length are hit). `Header` folds
correctly; tests/unit/test_notification_email.py checks the round trip for many lengths.

The Message-ID is derived from the delivery id, so a message re-sent after a crash (at-least-once) carries
the same id and mail clients and archives can recognise the duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr

import aiosmtplib

from services.notifications.domain.outcome import Outcome


@dataclass(frozen=True)
class SmtpConfig:
    host: str | None
    port: int
    starttls: bool
    user: str | None
    password: str | None
    sender: str
    timeout: float


def build_message(
    sender: str, to: str, subject: str, body: str, *, delivery_id: str, now: datetime, event: str
) -> MIMEText:
    for value in (sender, to, subject):
        if "\n" in value or "\r" in value:
            raise ValueError("header values may not contain line breaks")
    name, address = parseaddr(sender)
    message = MIMEText(body, "plain", "utf-8")
    message["From"] = formataddr((name, address), charset="utf-8")
    message["To"] = to
    message["Subject"] = Header(subject, "utf-8")  # type: ignore[assignment]  # Header is allowed
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{delivery_id}@{address.partition('@')[2] or 'htx-monitor.local'}>"
    message["X-HTX-Delivery"] = delivery_id
    message["X-HTX-Event"] = event
    return message


async def send(
    config: SmtpConfig, to: str, subject: str, body: str, *, delivery_id: str, now: datetime, event: str
) -> Outcome:
    if not config.host:
        return Outcome.permanent("no SMTP server configured (NOTIFICATIONS_SMTP_HOST)")
    try:
        message = build_message(config.sender, to, subject, body, delivery_id=delivery_id, now=now, event=event)
    except (ValueError, TypeError) as exc:  # e.g. a header with a line break in the address
        return Outcome.permanent(f"cannot build the message: {exc}")
    try:
        _, reply = await aiosmtplib.send(
            message,
            hostname=config.host,
            port=config.port,
            start_tls=config.starttls,
            username=config.user,
            password=config.password,
            timeout=config.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:500]
        return Outcome.permanent(detail) if codes and min(codes) >= 500 else Outcome.transient(detail)
    except aiosmtplib.SMTPDataError as exc:
        detail = f"{exc.code} {exc.message}"[:500]
        return Outcome.permanent(detail) if exc.code >= 500 else Outcome.transient(detail)
    except (aiosmtplib.SMTPException, OSError) as exc:
        # Connection, timeout, TLS, authentication, sender refused: the server or our settings, not the address.
        return Outcome.transient(f"{type(exc).__name__}: {exc}"[:500])
    return Outcome.success(f"SMTP {reply}"[:500])
