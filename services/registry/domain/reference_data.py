"""Keeps the seeded units and agencies in the database, publishing an event for every row it adds or changes.

Runs at every start-up and is idempotent: a second run changes nothing and publishes nothing.
"""

from __future__ import annotations

import zlib
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry.db.models import Agency, OrgUnit
from services.registry.domain.reference import AGENCIES, UNITS, UNITS_VALID_FROM
from services.registry.events import publish
from shared.clock import Clock
from shared.messaging.outbox import Outbox


async def seed_reference_data(
    sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox, clock: Clock, *, valid_from: date = UNITS_VALID_FROM
) -> int:
    changed = 0
    async with sessionmaker() as session, session.begin():
        # Replicas starting together: one seeds, the others wait and then find nothing to do.
        await session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(b"registry.reference-data"))))
        for seed in UNITS:
            unit = await session.scalar(
                select(OrgUnit).where(OrgUnit.code == seed.code, OrgUnit.valid_from == valid_from)
            )
            if unit is None:
                unit = OrgUnit(
                    code=seed.code,
                    name=seed.name,
                    level=seed.level,
                    parent_code=seed.parent_code,
                    valid_from=valid_from,
                    valid_to=None,
                    version=1,
                )
                session.add(unit)
            elif (unit.name, unit.level, unit.parent_code) != (seed.name, seed.level, seed.parent_code):
                unit.name, unit.level, unit.parent_code = seed.name, seed.level, seed.parent_code
                unit.version += 1
            else:
                continue
            changed += 1
            await _publish_unit(session, outbox, unit, clock)
        for a in AGENCIES:
            row = await session.get(Agency, a.code)
            if row is None:
                row = Agency(
                    code=a.code,
                    name=a.name,
                    kind=a.kind,
                    jurisdiction_unit_code=a.jurisdiction_unit_code,
                    writes_registry=a.writes_registry,
                    active=True,
                    version=1,
                )
                session.add(row)
            elif (row.name, row.kind, row.jurisdiction_unit_code, row.writes_registry) != (
                a.name,
                a.kind,
                a.jurisdiction_unit_code,
                a.writes_registry,
            ):
                row.name, row.kind = a.name, a.kind
                row.jurisdiction_unit_code, row.writes_registry = a.jurisdiction_unit_code, a.writes_registry
                row.version += 1
            else:
                continue
            changed += 1
            await session.flush()
            await outbox.add(session, publish.agency(row), occurred_at=clock.now())
    return changed


async def _publish_unit(session: AsyncSession, outbox: Outbox, unit: OrgUnit, clock: Clock) -> None:
    await session.flush()
    await outbox.add(session, publish.org_unit(unit), occurred_at=clock.now())
