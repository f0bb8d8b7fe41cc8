"""The `indicators` schema. Only this service reads or writes it."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import service_metadata
from shared.messaging.tables import inbox_table, outbox_table

SCHEMA = "indicators"
metadata = service_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
