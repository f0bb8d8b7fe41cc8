"""Use cases on a cooperative's profile: register, read, update, its audit trail. Each opens and owns its
transaction, and stages the `registry.cooperative-status.v1` event in the outbox inside it (no dual writes)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.db.cooperatives import ChangeRepository, CooperativeRepository, StatusReportRepository
from services.registry.db.models import Cooperative, CooperativeChange, StatusReport
from services.registry.db.reference import UnitRepository
from services.registry.domain.access import authorise_registry_write
from services.registry.domain.audit import audit_row
from services.registry.domain.idempotency import Created, IdempotencyKey, created_before, remember
from services.registry.domain.inputs import CooperativeCreate, CooperativeUpdate
from services.registry.domain.values import plain, stored
from services.registry.domain.vietnamese import fold, normalise_name
from services.registry.events import publish
from shared.auth import Principal
from shared.clock import Clock
from shared.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from shared.messaging.outbox import Outbox


def cooperative_not_found(cooperative_id: uuid.UUID) -> NotFound:
    return NotFound(f"Không tìm thấy HTX {cooperative_id} (cooperative not found)")


def etag_of(coop: Cooperative) -> str:
    return etag(coop.id, coop.version)


def etag(cooperative_id: object, version: object) -> str:
    """Strong ETag naming the version a client read: `"<id>.v<version>"`."""
    return f'"{cooperative_id}.v{version}"'


def founded_not_in_future(day: date | None, today: date) -> None:
    """The schema bounds `established_on` from below; the upper bound is today, by the service's clock."""
    if day is not None and day > today:
        raise ValidationFailed(
            "Ngày thành lập ở tương lai (established_on is in the future)",
            errors=[{"field": "established_on", "message": f"must not be after {today.isoformat()}"}],
        )


def new_cooperative(data: CooperativeCreate, now: datetime) -> tuple[Cooperative, dict[str, Any]]:
    """The row for a new cooperative (name in NFC with single spaces, folded search key, version 1), and the
    fields as stored, for the audit trail. Shared by the API's create and the file import."""
    fields = data.model_dump()
    fields["name"] = normalise_name(fields["name"])
    coop = Cooperative(
        id=uuid.uuid4(),
        search_name=fold(fields["name"]),
        version=1,
        created_at=now,
        updated_at=now,
        latest_report_id=None,
        classification=None,
        is_model=None,
        **{k: stored(v) for k, v in fields.items()},
    )
    return coop, fields


class CooperativeService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        self.clock = clock

    # -- reads ------------------------------------------------------------------------------------------

    async def get(self, cooperative_id: uuid.UUID) -> tuple[Cooperative, StatusReport | None]:
        async with self.sessionmaker() as session:
            return await self._with_latest(session, cooperative_id)

    async def changes(
        self, cooperative_id: uuid.UUID, limit: int | None = None, before: int | None = None
    ) -> list[CooperativeChange]:
        async with self.sessionmaker() as session:
            if await CooperativeRepository(session).get(cooperative_id) is None:
                raise cooperative_not_found(cooperative_id)
            return list(await ChangeRepository(session).history(cooperative_id, limit=limit, before=before))

    # -- writes -----------------------------------------------------------------------------------------

    async def create(
        self, principal: Principal, data: CooperativeCreate, idem: IdempotencyKey | None
    ) -> Created[tuple[Cooperative, StatusReport | None]]:
        founded_not_in_future(data.established_on, self.clock.today())
        async with self.sessionmaker() as session, session.begin():
            earlier = await created_before(session, idem)
            if earlier is not None:
                return Created(await self._with_latest(session, earlier), replayed=True)
            try:
                coop = await self.create_in(session, principal, data)
            except IntegrityError as exc:
                raise Conflict(
                    f"Mã số HTX {data.registration_code} đã tồn tại (registration code already registered)",
                    errors=[{"field": "registration_code", "message": "already registered"}],
                ) from exc
            remember(session, idem, coop.id)
        return Created((coop, None))

    async def create_in(self, session: AsyncSession, principal: Principal, data: CooperativeCreate) -> Cooperative:
        """Create inside the caller's transaction (also used by the file import)."""
        now = self.clock.now()
        await self._require_unit(session, data.unit_code)
        await authorise_registry_write(session, principal, {data.unit_code}, self.clock.today())
        coop, fields = new_cooperative(data, now)
        session.add(coop)
        await session.flush()  # surfaces a duplicate registration code here, inside the transaction
        self._audit(
            session, coop, "created", {k: {"old": None, "new": plain(v)} for k, v in fields.items()}, principal, now
        )
        await self.outbox.add(session, publish.cooperative_status(coop, None, now), occurred_at=now)
        return coop

    async def update(
        self, principal: Principal, cooperative_id: uuid.UUID, if_match: str, data: CooperativeUpdate
    ) -> tuple[Cooperative, StatusReport | None]:
        founded_not_in_future(data.established_on, self.clock.today())
        async with self.sessionmaker() as session, session.begin():
            coop = await CooperativeRepository(session).get(cooperative_id, for_update=True)
            if coop is None:
                raise cooperative_not_found(cooperative_id)
            if if_match.strip() != etag_of(coop):
                raise PreconditionFailed(
                    "HTX đã được người khác cập nhật; hãy tải lại (the cooperative changed since you read it)",
                    current_etag=etag_of(coop),
                )
            latest = await self.update_in(session, principal, coop, data.model_dump(exclude_unset=True))
        return coop, latest

    async def update_in(
        self, session: AsyncSession, principal: Principal, coop: Cooperative, fields: dict[str, Any]
    ) -> StatusReport | None:
        now = self.clock.now()
        units = {coop.unit_code}
        if "unit_code" in fields and fields["unit_code"] != coop.unit_code:
            await self._require_unit(session, fields["unit_code"])
            units.add(fields["unit_code"])
        await authorise_registry_write(session, principal, units, self.clock.today())
        if "name" in fields:
            fields["name"] = normalise_name(fields["name"])
        changes = {
            k: {"old": plain(getattr(coop, k)), "new": plain(v)}
            for k, v in fields.items()
            if plain(getattr(coop, k)) != plain(v)
        }
        latest = await StatusReportRepository(session).get(coop.latest_report_id) if coop.latest_report_id else None
        if not changes:
            return latest  # nothing changed: no new version, no event
        for key, value in fields.items():
            setattr(coop, key, stored(value))
        if "name" in changes:
            coop.search_name = fold(coop.name)
        coop.version += 1
        coop.updated_at = now
        self._audit(session, coop, "updated", changes, principal, now)
        await self.outbox.add(session, publish.cooperative_status(coop, latest, now), occurred_at=now)
        return latest

    # -- helpers ----------------------------------------------------------------------------------------

    @staticmethod
    async def _with_latest(session: AsyncSession, cooperative_id: uuid.UUID) -> tuple[Cooperative, StatusReport | None]:
        coop = await CooperativeRepository(session).get(cooperative_id)
        if coop is None:
            raise cooperative_not_found(cooperative_id)
        latest = await StatusReportRepository(session).get(coop.latest_report_id) if coop.latest_report_id else None
        return coop, latest

    async def _require_unit(self, session: AsyncSession, code: str) -> None:
        if await UnitRepository(session).get(code, self.clock.today()) is None:
            raise ValidationFailed(
                f"Mã đơn vị hành chính '{code}' không tồn tại (unknown administrative unit)",
                errors=[{"field": "unit_code", "message": f"unknown administrative unit '{code}'"}],
            )

    def _audit(
        self,
        session: AsyncSession,
        coop: Cooperative,
        action: str,
        changes: dict[str, Any],
        principal: Principal,
        at: datetime,
    ) -> None:
        session.add(CooperativeChange(**audit_row(coop.id, coop.version, action, changes, principal, at)))
