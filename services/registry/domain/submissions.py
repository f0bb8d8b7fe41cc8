"""Report submissions [báo cáo định kỳ]: an agency files its own semi-annual, annual or ad-hoc report."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.db.models import ReportSubmission
from services.registry.db.reference import AgencyRepository
from services.registry.db.submissions import SubmissionRepository
from services.registry.domain.idempotency import Created, IdempotencyKey, created_before, remember
from services.registry.domain.inputs import ReportSubmissionCreate
from services.registry.events import publish
from shared.auth import Principal
from shared.clock import Clock
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.events.contracts import ReportKind
from shared.messaging.outbox import Outbox


class SubmissionService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.clock = clock

    async def submit(
        self, principal: Principal, data: ReportSubmissionCreate, idem: IdempotencyKey | None
    ) -> Created[ReportSubmission]:
        today = self.clock.today()
        if data.submitted_on > today:
            raise ValidationFailed(
                "Ngày nộp báo cáo ở tương lai (submitted_on is in the future)",
                errors=[{"field": "submitted_on", "message": f"must not be after {today.isoformat()}"}],
            )
        if data.kind == ReportKind.ad_hoc and data.request_id is None:
            raise ValidationFailed(
                "Báo cáo đột xuất cần mã yêu cầu (an ad-hoc report needs request_id)",
                errors=[{"field": "request_id", "message": "required when kind is ad_hoc"}],
            )
        async with self.sessionmaker() as session, session.begin():
            agency = await AgencyRepository(session).get(principal.agency)
            if agency is None or not agency.active:
                raise Forbidden(f"Agency '{principal.agency}' is unknown or inactive")
            earlier = await created_before(session, idem)
            if earlier is not None:
                replay = await SubmissionRepository(session).get(earlier)
                if replay is None:  # the key named a submission that is no longer there: nothing to replay
                    raise NotFound(f"Không tìm thấy báo cáo {earlier} (submission not found)")
                return Created(replay, replayed=True)
            now = self.clock.now()
            row = ReportSubmission(
                id=uuid.uuid4(),
                agency_code=agency.code,
                kind=data.kind.value,
                period=data.period,
                reference=data.reference,
                submitted_on=data.submitted_on,
                summary=data.summary,
                document_url=str(data.document_url) if data.document_url else None,
                request_id=data.request_id,
                submitted_by=principal.subject,
                created_at=now,
            )
            session.add(row)
            await self.outbox.add(session, publish.report_submission(row), occurred_at=now)
            remember(session, idem, row.id)
        return Created(row)
