"""Response bodies of `/v1/inbox` and `/v1/deliveries`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

INBOX_EXAMPLE: dict[str, Any] = {
    "id": "9a0d4c1e-2b3f-4a5b-8c7d-6e5f4a3b2c1d",
    "alert_id": "3f1c2b7e-8d2a-4e59-9f3c-5a7b1d2e4c60",
    "notice": "opened",
    "title": "Nhắc hạn nộp báo cáo 6 tháng đầu năm 2025 (hạn 10/06/2025)",
    "body": "Báo cáo 6 tháng đầu năm 2025 cần gửi SNN chậm nhất hết ngày 10/06/2025 (còn 7 ngày).",
    "fallback_for": "UBND-926",
    "created_at": "2025-06-03T01:00:00Z",
    "read_at": None,
}
ATTEMPT_EXAMPLE: dict[str, Any] = {"attempt": 1, "at": "2025-07-15T03:00:01Z", "ok": False, "detail": "HTTP 503"}
DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": "5b7e2a90-1c3d-4e5f-a6b7-c8d9e0f1a2b3",
    "alert_id": "3f1c2b7e-8d2a-4e59-9f3c-5a7b1d2e4c60",
    "notice": "opened",
    "channel": "webhook",
    "address": "https://dieuhanh.cantho.gov.vn/hooks/htx",
    "status": "sent",
    "attempts": 2,
    "next_attempt_at": None,
    "last_error": None,
    "digest_id": None,
    "created_at": "2025-07-15T03:00:00Z",
    "sent_at": "2025-07-15T03:00:32Z",
    "attempt_log": [
        ATTEMPT_EXAMPLE,
        {**ATTEMPT_EXAMPLE, "attempt": 2, "at": "2025-07-15T03:00:32Z", "ok": True, "detail": "HTTP 200"},
    ],
}


class InboxMessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [INBOX_EXAMPLE]})

    id: uuid.UUID
    alert_id: uuid.UUID
    notice: str = Field(description="opened | updated | reminder | acknowledged | resolved")
    title: str
    body: str
    fallback_for: str | None = Field(
        description="Set on a copy in SNN's inbox: the agency that had no working channel for this notice"
    )
    created_at: datetime
    read_at: datetime | None


class UnreadCount(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"agency_code": "UBND-926", "unread": 3}]})

    agency_code: str
    unread: int


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [ATTEMPT_EXAMPLE]})

    attempt: int
    at: datetime
    ok: bool
    detail: str | None = Field(description="HTTP status, SMTP reply or the error")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [DELIVERY_EXAMPLE]})

    id: uuid.UUID = Field(description="Also the `X-HTX-Delivery` header and the e-mail's Message-ID")
    alert_id: uuid.UUID | None = Field(description="Null for a digest e-mail (it carries several alerts)")
    notice: str = Field(description="opened | updated | reminder | acknowledged | resolved | digest")
    channel: str = Field(description="email | webhook")
    address: str | None
    status: str = Field(description="pending | sent | failed | held (waits for the digest) | digested")
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    digest_id: uuid.UUID | None = Field(description="For a digested notice: the digest delivery that carried it")
    created_at: datetime
    sent_at: datetime | None
    attempt_log: list[AttemptOut]


class AlertDeliveries(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "alert_id": DELIVERY_EXAMPLE["alert_id"],
                    "agency_code": "SCT",
                    "fallback_to": [],
                    "items": [DELIVERY_EXAMPLE],
                }
            ]
        }
    )

    alert_id: uuid.UUID
    agency_code: str
    fallback_to: list[str] = Field(
        description="Agencies whose inbox got a fallback copy of a notice of this alert (normally SNN)"
    )
    items: list[DeliveryOut]
