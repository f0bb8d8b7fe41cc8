"""The `notifications` schema: its own agency directory, contact channels, routing, alerts, reporting
deadlines, deliveries, the in-app inbox and the SSE event log. Only this service reads or writes it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.messaging.tables import inbox_table, outbox_table
from shared.ratelimit import rate_limits_table

SCHEMA = "notifications"
metadata = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
rate_limits = rate_limits_table(metadata)


class Agency(Base):
    """Projection of `registry.agencies.v1` (this service's own copy)."""

    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    jurisdiction_unit_code: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(2), server_default="vi", comment="vi | en, for messages")
    digest: Mapped[bool] = mapped_column(
        Boolean, server_default=text("false"), comment="one message per day instead of one per alert"
    )


class Channel(Base):
    """A contact channel owned here: e-mail address or webhook endpoint (the inbox needs no row)."""

    __tablename__ = "channels"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    agency_code: Mapped[str] = mapped_column(String(30), index=True)
    kind: Mapped[str] = mapped_column(String(10), comment="email | webhook")
    address: Mapped[str] = mapped_column(String(1000), comment="e-mail address or https URL")
    secret: Mapped[str | None] = mapped_column(String(200), comment="webhook HMAC-SHA256 key")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(2), default="vi")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoutingRule(Base):
    """Overrides the plan's routing for a target (and optionally one unit): who leads, who is informed."""

    __tablename__ = "routing_rules"

    target_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(20), primary_key=True, comment="'*' for every unit")
    lead_agency: Mapped[str] = mapped_column(String(30))
    coordinating: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TargetState(Base):
    """The latest target-status event applied per (target, unit), so a late or repeated one changes nothing."""

    __tablename__ = "target_states"

    target_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Alert(Base):
    """One alert for one agency. At most one open (or acknowledged) alert per dedup key."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alerts_open_dedup_key", "dedup_key", unique=True, postgresql_where=text("state <> 'resolved'")),
        Index("ix_alerts_agency_state", "agency_code", "state"),
        # Every target-status event asks for the open alerts of its (target, unit): a small partial index.
        Index("ix_alerts_open_target_unit", "target_id", "unit_code", postgresql_where=text("state <> 'resolved'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    dedup_key: Mapped[str] = mapped_column(String(300), comment="kind|target or deadline|unit|agency")
    kind: Mapped[str] = mapped_column(
        String(30), comment="target_risk | deadline_reminder | deadline_overdue | target_deadline"
    )
    role: Mapped[str] = mapped_column(String(20), comment="lead | coordinating | fallback | owner")
    agency_code: Mapped[str] = mapped_column(String(30))
    unit_code: Mapped[str | None] = mapped_column(String(20))
    target_id: Mapped[str | None] = mapped_column(String(100))
    target_code: Mapped[str | None] = mapped_column(String(40))
    deadline_id: Mapped[uuid.UUID | None] = mapped_column()
    state: Mapped[str] = mapped_column(String(20), comment="open | acknowledged | resolved")
    severity: Mapped[str] = mapped_column(String(10), comment="info | warning | critical")
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, comment="the numbers behind the alert")
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    last_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notify_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Deadline(Base):
    """A reporting obligation [nghĩa vụ báo cáo]: an agency owes a report by a Vietnam-local date."""

    __tablename__ = "deadlines"
    __table_args__ = (Index("uq_deadlines_obligation", "agency_code", "kind", "period", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    agency_code: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(20), comment="semi_annual | annual | ad_hoc")
    period: Mapped[str] = mapped_column(String(40), comment="2025-H1, 2025, or the ad-hoc request id")
    due_on: Mapped[date] = mapped_column(Date, comment="last day to submit (inclusive), Vietnam time")
    request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("report_requests.id"))
    submitted_on: Mapped[date | None] = mapped_column(Date)
    submission_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReportRequest(Base):
    """An ad-hoc report request [yêu cầu báo cáo đột xuất] with its own due date."""

    __tablename__ = "report_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(500))
    agencies: Mapped[list[str]] = mapped_column(ARRAY(String(30)))
    due_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_by_agency: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduledSend(Base):
    """Each scheduled notification happens once: the key is claimed by INSERT … ON CONFLICT DO NOTHING."""

    __tablename__ = "scheduled_sends"

    key: Mapped[str] = mapped_column(
        String(300), primary_key=True, comment="e.g. deadline:<id>:before:7 or target:<id>:<unit>:before:90"
    )
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """One attempt-tracked delivery of one alert notice to one channel, or of one day's digest e-mail."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_deliveries_held", "channel_id", "created_at", postgresql_where=text("status = 'held'")),
        Index("ix_deliveries_channel_recent", "channel_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    alert_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alerts.id"), index=True, comment="null for a digest, which carries many alerts"
    )
    notice: Mapped[str] = mapped_column(
        String(20), comment="opened | updated | reminder | resolved | acknowledged | digest"
    )
    agency_code: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(10), comment="inbox | email | webhook")
    channel_id: Mapped[uuid.UUID | None] = mapped_column()
    address: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(
        String(10), comment="pending | sent | failed | held (waits for the day's digest) | digested"
    )
    digest_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deliveries.id"), index=True, comment="the digest delivery that carried this held notice"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str | None] = mapped_column(Text, comment="HTTP status, SMTP reply or error")


class InboxMessage(Base):
    """The in-app inbox [hộp thư] of an agency (what mobile back-ends list)."""

    __tablename__ = "inbox_messages"
    __table_args__ = (Index("ix_inbox_messages_agency_unread", "agency_code", "read_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    agency_code: Mapped[str] = mapped_column(String(30))
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"), index=True)
    notice: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    fallback_for: Mapped[str | None] = mapped_column(
        String(30), comment="set in SNN's inbox when the agency had no channel"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StreamEvent(Base):
    """Ordered log behind the SSE stream; its `seq` is the `Last-Event-ID` a client resumes from.

    `id` is allocated at insert, so ids can commit out of order; `seq` is given to committed rows by one
    sequencer at a time (see domain/stream.py), so a reader that saw `seq` N never later finds an N-1."""

    __tablename__ = "stream_events"
    __table_args__ = (Index("ix_stream_events_unsequenced", "id", postgresql_where=text("seq IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    seq: Mapped[int | None] = mapped_column(
        BigInteger, unique=True, comment="stream position, assigned after commit in commit order; the SSE event id"
    )
    agency_code: Mapped[str] = mapped_column(String(30), index=True)
    alert_id: Mapped[uuid.UUID] = mapped_column()
    event: Mapped[str] = mapped_column(String(30))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
