"""`/v1/deliveries`: every e-mail and webhook delivery of an alert, with each attempt's result."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query

from services.notifications.api.delivery_schemas import AlertDeliveries, AttemptOut, DeliveryOut
from services.notifications.domain.access import READ, is_operator
from services.notifications.domain.delivery_log import delivery_log
from shared.auth import Principal, require_scope
from shared.service import Runtime, get_runtime

router = APIRouter(prefix="/deliveries", tags=["deliveries"])


@router.get(
    "",
    response_model=AlertDeliveries,
    summary="Lịch sử gửi của một cảnh báo (delivery attempts per alert)",
    responses={
        401: {"description": "No or invalid bearer token (problem+json)"},
        403: {"description": "The token lacks the scope (problem+json)"},
        404: {"description": "No such alert visible to the caller's agency (problem+json)"},
        422: {"description": "`alert_id` missing or not a UUID (problem+json naming the field)"},
    },
)
async def list_deliveries(
    alert_id: uuid.UUID = Query(examples=["3f1c2b7e-8d2a-4e59-9f3c-5a7b1d2e4c60"]),
    runtime: Runtime = Depends(get_runtime),
    principal: Principal = Depends(require_scope(READ)),
) -> AlertDeliveries:
    async with runtime.sessionmaker() as session:
        log = await delivery_log(session, alert_id, agency_code=principal.agency, operator=is_operator(principal))
    items = [
        DeliveryOut(
            id=d.id,
            alert_id=d.alert_id,
            notice=d.notice,
            channel=d.channel,
            address=d.address,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_error=d.last_error,
            digest_id=d.digest_id,
            created_at=d.created_at,
            sent_at=d.sent_at,
            attempt_log=[AttemptOut.model_validate(a) for a in log.attempts.get(d.id, [])],
        )
        for d in log.deliveries
    ]
    return AlertDeliveries(
        alert_id=log.alert.id, agency_code=log.alert.agency_code, fallback_to=log.fallback_to, items=items
    )
