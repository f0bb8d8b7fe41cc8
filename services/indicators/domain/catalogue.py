"""The plans in force: loaded from `plans/*.json` at start-up and through the API, kept in the database."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.indicators.db.models import Plan
from services.indicators.domain.plans import PlanDocument
from shared.errors import NotFound, ValidationFailed

PLANS_DIR = Path(__file__).resolve().parent.parent / "plans"


def parse_plan(data: object) -> PlanDocument:
    """Validate a plan document; errors name the exact place (e.g. `indicators.0.predicate.0.op`)."""
    try:
        return PlanDocument.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]} for err in exc.errors()
        ]
        raise ValidationFailed("Kế hoạch không hợp lệ (invalid plan document)", errors=errors) from exc


def shipped_plans() -> list[PlanDocument]:
    return [parse_plan(json.loads(path.read_text(encoding="utf-8"))) for path in sorted(PLANS_DIR.glob("*.json"))]


_parsed: dict[tuple[str, int], PlanDocument] = {}


async def load_plans(session: AsyncSession) -> list[PlanDocument]:
    """The stored plans; a document is validated once per version (it is read on every event)."""
    versions = (await session.execute(select(Plan.code, Plan.version).order_by(Plan.code))).all()
    plans = []
    for code, version in versions:
        key = (code, version)
        if key not in _parsed:
            document = await session.scalar(select(Plan.document).where(Plan.code == code))
            _parsed[key] = PlanDocument.model_validate(document)
        plans.append(_parsed[key])
    return plans


async def find_plan(session: AsyncSession, code: str) -> PlanDocument:
    """A stored plan by its code or its slug (`219/KH-UBND` or `219-KH-UBND`, the form a URL can carry)."""
    for plan in await load_plans(session):
        if code in (plan.code, plan.slug):
            return plan
    raise NotFound(f"Không tìm thấy kế hoạch '{code}' (plan not found)")


async def store_plan(session: AsyncSession, plan: PlanDocument, *, source: str, now: datetime) -> tuple[Plan, bool]:
    """Insert or replace; returns the row and whether the document changed."""
    document = plan.model_dump(mode="json")
    row = await session.get(Plan, plan.code, with_for_update=True)
    if row is None:
        row = Plan(code=plan.code, document=document, version=1, source=source, loaded_at=now)
        session.add(row)
        return row, True
    if row.document == document:
        return row, False
    row.document, row.version, row.source, row.loaded_at = document, row.version + 1, source, now
    return row, True
