"""The `registry` schema. Only this service reads or writes it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.messaging.tables import inbox_table, outbox_table
from shared.ratelimit import rate_limits_table

SCHEMA = "registry"
metadata = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
rate_limits = rate_limits_table(metadata)


class OrgUnit(Base):
    """An administrative unit [đơn vị hành chính] for a validity period; reorganisations add rows."""

    __tablename__ = "org_units"
    __table_args__ = (
        UniqueConstraint("code", "valid_from"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(30))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Agency(Base):
    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(String(30), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    jurisdiction_unit_code: Mapped[str] = mapped_column(String(20))
    writes_registry: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Cooperative(Base):
    __tablename__ = "cooperatives"
    # fillfactor: room on each page for the row's next version, so a status report updates it in place (HOT);
    # the rating and model flag are not indexed for the same reason (migration 4b8e2d71c9a3).
    __table_args__ = (Index("ix_cooperatives_search_name", "search_name"), {"postgresql_with": {"fillfactor": 70}})

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    registration_code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    search_name: Mapped[str] = mapped_column(String(300), comment="name without diacritics, lower case")
    unit_code: Mapped[str] = mapped_column(String(20), index=True)
    address: Mapped[str | None] = mapped_column(String(500))
    sector: Mapped[str] = mapped_column(String(40), index=True)
    established_on: Mapped[date | None] = mapped_column(Date)
    legal_status: Mapped[str] = mapped_column(String(20), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    # Denormalised from the latest status report so lists can filter on them cheaply.
    latest_report_id: Mapped[uuid.UUID | None] = mapped_column()
    classification: Mapped[str | None] = mapped_column(String(20))
    is_model: Mapped[bool | None] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StatusReport(Base):
    """A periodic status snapshot; never updated — a correction is a new revision for the same period."""

    __tablename__ = "status_reports"
    __table_args__ = (
        UniqueConstraint("cooperative_id", "period", "revision"),
        CheckConstraint("managers_trained <= managers_total", name="trained_le_total"),
        CheckConstraint("managers_female <= managers_total", name="female_le_total"),
        CheckConstraint("managers_under_35 <= managers_total", name="young_le_total"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    cooperative_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cooperatives.id"))  # led by the unique index
    as_of: Mapped[date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(10))
    revision: Mapped[int] = mapped_column(Integer)
    members_official: Mapped[int] = mapped_column(Integer)
    members_associate: Mapped[int] = mapped_column(Integer)
    charter_capital_vnd: Mapped[int] = mapped_column(BigInteger)
    revenue_vnd: Mapped[int] = mapped_column(BigInteger)
    farmland_ha: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    production_value_vnd: Mapped[int] = mapped_column(BigInteger)
    classification: Mapped[str] = mapped_column(String(20))
    is_model: Mapped[bool] = mapped_column(Boolean)
    enterprise_linked: Mapped[bool] = mapped_column(Boolean)
    enterprise_partners: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    high_tech_or_gap: Mapped[bool] = mapped_column(Boolean)
    certifications: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    ecommerce: Mapped[bool] = mapped_column(Boolean)
    ecommerce_platforms: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    ocop_products: Mapped[int] = mapped_column(Integer)
    managers_total: Mapped[int] = mapped_column(Integer)
    managers_trained: Mapped[int] = mapped_column(Integer)
    managers_female: Mapped[int] = mapped_column(Integer)
    managers_under_35: Mapped[int] = mapped_column(Integer)
    reported_by_agency: Mapped[str] = mapped_column(String(30))
    reported_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CooperativeChange(Base):
    """Audit trail: who changed what, when (the `history` endpoint)."""

    __tablename__ = "cooperative_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    cooperative_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cooperatives.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(30))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    actor: Mapped[str] = mapped_column(String(200))
    actor_agency: Mapped[str] = mapped_column(String(30))
    request_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReportSubmission(Base):
    __tablename__ = "report_submissions"
    __table_args__ = (Index("ix_report_submissions_agency_period", "agency_code", "kind", "period"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    agency_code: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(100))
    submitted_on: Mapped[date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    document_url: Mapped[str | None] = mapped_column(String(1000))
    request_id: Mapped[uuid.UUID | None] = mapped_column()
    submitted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IdempotencyRecord(Base):
    """The first response to a create with an `Idempotency-Key`, replayed on retries."""

    __tablename__ = "idempotency_keys"

    agency: Mapped[str] = mapped_column(String(30), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
