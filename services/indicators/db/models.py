"""The `indicators` schema: its own projection of the registry (never the registry's tables), the plans, the
per-unit aggregates and time series, and the latest status of each target per unit."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DateTime, Index, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import service_metadata
from shared.messaging.tables import inbox_table, outbox_table

SCHEMA = "indicators"
metadata = service_metadata(SCHEMA)

SUM = Numeric(28, 6)  # exact sums of VND amounts and hectares


class Base(DeclarativeBase):
    metadata = metadata


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


class Plan(Base):
    __tablename__ = "plans"

    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20), comment="file | api")
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OrgUnit(Base):
    """Projection of `registry.org-units.v1`: enough of the tree to roll units up."""

    __tablename__ = "org_units"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(30))
    parent_code: Mapped[str | None] = mapped_column(String(20), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)


class CooperativeState(Base):
    """Projection of `registry.cooperative-status.v1`: the newest version seen of each cooperative."""

    __tablename__ = "cooperatives"

    cooperative_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    registration_code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(300))
    unit_code: Mapped[str] = mapped_column(String(20))
    legal_status: Mapped[str] = mapped_column(String(20))
    sector: Mapped[str] = mapped_column(String(40))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProfileChange(Base):
    """Unit / legal status / sector in effect from a period on, so past periods keep the profile they had."""

    __tablename__ = "profile_history"

    cooperative_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    effective_period: Mapped[str] = mapped_column(String(7), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(20))
    legal_status: Mapped[str] = mapped_column(String(20))
    sector: Mapped[str] = mapped_column(String(40))


class StatusSnapshot(Base):
    """The newest status report seen for each cooperative and half-year period."""

    __tablename__ = "status_snapshots"

    cooperative_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    report_id: Mapped[uuid.UUID] = mapped_column()
    as_of: Mapped[date] = mapped_column(Date)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Contribution(Base):
    """What one cooperative adds to each indicator of a plan in one period: {indicator: [num, den]}."""

    __tablename__ = "contributions"

    plan_code: Mapped[str] = mapped_column(String(60), primary_key=True)
    cooperative_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(20))
    parts: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Aggregate(Base):
    """Σ contributions of the cooperatives registered directly in one unit, per indicator and period."""

    __tablename__ = "aggregates"

    plan_code: Mapped[str] = mapped_column(String(60), primary_key=True)
    indicator_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    numerator: Mapped[Decimal] = mapped_column(SUM)
    denominator: Mapped[Decimal] = mapped_column(SUM)
    members: Mapped[int] = mapped_column(Integer)


class IndicatorValue(Base):
    """The time series: a unit's value (its own cooperatives and every unit below it) per period."""

    __tablename__ = "indicator_values"
    __table_args__ = (Index("ix_indicator_values_series", "plan_code", "indicator_code", "unit_code", "period"),)

    plan_code: Mapped[str] = mapped_column(String(60), primary_key=True)
    indicator_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    numerator: Mapped[Decimal] = mapped_column(SUM)
    denominator: Mapped[Decimal] = mapped_column(SUM)
    members: Mapped[int] = mapped_column(Integer)
    value: Mapped[Decimal | None] = mapped_column(Numeric(28, 4))
    version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TargetStatus(Base):
    __tablename__ = "target_status"

    target_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    plan_code: Mapped[str] = mapped_column(String(60))
    target_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30))
    ratio: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    baseline: Mapped[Decimal | None] = mapped_column(Numeric(28, 4))
    current: Mapped[Decimal | None] = mapped_column(Numeric(28, 4))
    projection: Mapped[Decimal | None] = mapped_column(Numeric(28, 4))
    explanation: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    evaluated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
