"""Who hears about a target: the plan's routing carried by each target-status event, unless a rule overrides it.

Routing is data twice over: the plan names a lead and coordinating agencies for each target (the indicators
service resolves "the district's People's Committee" and sends them on every event), and a `RoutingRule`
stored here — for one unit, or `*` for every unit — replaces them without a release.

`routing_of` and `replace_routing` are the use cases behind `/v1/routing/{target_code}`; each opens and owns
its transaction.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifications.db.models import Agency, RoutingRule, TargetState
from services.notifications.domain.access import may_oversee
from services.notifications.domain.run import Rules, Run
from shared.auth import Principal
from shared.errors import Forbidden, PreconditionFailed, PreconditionRequired, ValidationFailed

ANY_UNIT = "*"

RISK = frozenset({"at_risk", "off_track", "deteriorating", "missed", "not_achieved"})
"""A move into one of these opens (or updates) a target alert."""
RECOVERED = frozenset({"on_track", "achieved"})
"""A move into one of these resolves it. Anything else (insufficient_data, qualitative) changes nothing."""
CRITICAL = frozenset({"off_track", "deteriorating", "missed"})


@dataclass(frozen=True)
class Recipients:
    lead: str
    coordinating: tuple[str, ...]
    overridden: bool = False

    def roles(self) -> list[tuple[str, str]]:
        """(agency, role) pairs, the lead first; an agency named twice keeps its strongest role."""
        pairs = [(self.lead, "lead")]
        pairs += [(code, "coordinating") for code in dict.fromkeys(self.coordinating) if code != self.lead]
        return pairs


def severity(status: str, role: str) -> str:
    if role != "lead":
        return "info"  # coordinators are informed; the lead is the one asked to act
    return "critical" if status in CRITICAL else "warning"


def choose(default: Recipients, rules: Rules, unit_code: str) -> Recipients:
    """The rule for this unit wins over the rule for every unit, which wins over the plan's routing."""
    for key in (unit_code, ANY_UNIT):
        if key in rules:
            lead, coordinating = rules[key]
            return Recipients(lead, coordinating, overridden=True)
    return default


async def recipients(run: Run, target_code: str, unit_code: str, lead: str, coordinating: list[str]) -> Recipients:
    rules = run.rules.get((target_code, unit_code))
    if rules is None:
        rows = await run.session.scalars(
            select(RoutingRule).where(
                RoutingRule.target_code == target_code, RoutingRule.unit_code.in_([unit_code, ANY_UNIT])
            )
        )
        rules = run.rules[(target_code, unit_code)] = {
            r.unit_code: (r.lead_agency, tuple(r.coordinating or ())) for r in rows
        }
    return choose(Recipients(lead, tuple(coordinating)), rules, unit_code)


async def load_rules(run: Run, pairs: set[tuple[str, str]]) -> None:
    """The routing rules of a run's (target code, unit) pairs, in one query."""
    codes = sorted({code for code, _ in pairs})
    found: dict[str, Rules] = {code: {} for code in codes}
    for rule in await run.session.scalars(select(RoutingRule).where(RoutingRule.target_code.in_(codes))):
        found[rule.target_code][rule.unit_code] = (rule.lead_agency, tuple(rule.coordinating or ()))
    for code, unit in pairs:
        rules = found[code]
        run.rules[(code, unit)] = {key: rules[key] for key in (unit, ANY_UNIT) if key in rules}


@dataclass(frozen=True)
class RuleInput:
    unit_code: str
    lead_agency: str
    coordinating: list[str]


async def rules_of(session: AsyncSession, target_code: str, *, lock: bool = False) -> list[RoutingRule]:
    query = select(RoutingRule).where(RoutingRule.target_code == target_code).order_by(RoutingRule.unit_code)
    return list(await session.scalars(query.with_for_update() if lock else query))


def rules_etag(rules: list[RoutingRule]) -> str:
    state = [[r.unit_code, r.lead_agency, list(r.coordinating or [])] for r in rules]
    return '"' + hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class PlanRouting:
    """The plan's routing of one unit, as carried by its latest target-status event."""

    unit_code: str
    status: str
    lead_agency: str
    coordinating: list[str]


@dataclass(frozen=True)
class Routing:
    target_code: str
    overrides: list[RoutingRule]
    plan: list[PlanRouting]

    @property
    def etag(self) -> str:
        return rules_etag(self.overrides)


async def routing_of(sessionmaker: async_sessionmaker[AsyncSession], target_code: str) -> Routing:
    async with sessionmaker() as session:
        return Routing(target_code, await rules_of(session, target_code), await _plan_routing(session, target_code))


async def replace_routing(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    target_code: str,
    wanted: list[RuleInput],
    if_match: str | None,
    *,
    authority: str,
    now: datetime,
) -> Routing:
    """Routing is plan governance: only the reporting authority or an operator, with the ETag of the last read."""
    if not may_oversee(principal, authority):
        raise Forbidden(f"Chỉ {authority} hoặc người vận hành được thay phân công (only {authority} or an operator)")
    if not if_match:
        raise PreconditionRequired("Cần header If-Match với ETag vừa đọc (If-Match is required for updates)")
    async with sessionmaker() as session, session.begin():
        rules = await replace_rules(session, target_code, wanted, if_match, now)
        return Routing(target_code, rules, await _plan_routing(session, target_code))


async def _plan_routing(session: AsyncSession, target_code: str) -> list[PlanRouting]:
    states = await session.scalars(
        select(TargetState).where(TargetState.data["target_code"].astext == target_code).order_by(TargetState.unit_code)
    )
    return [
        PlanRouting(
            unit_code=s.unit_code,
            status=s.status,
            lead_agency=s.data.get("lead_agency", ""),
            coordinating=list(s.data.get("coordinating_agencies", [])),
        )
        for s in states
    ]


async def replace_rules(
    session: AsyncSession, target_code: str, wanted: list[RuleInput], if_match: str, now: datetime
) -> list[RoutingRule]:
    """Replace every override of `target_code` (an empty list returns the target to the plan's routing), in the
    caller's transaction.

    Applies from the next target-status event on; alerts already open stay with their agency until then.
    """
    await session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(f"routing|{target_code}".encode()))))
    current = await rules_of(session, target_code, lock=True)
    if if_match.strip() != rules_etag(current):
        raise PreconditionFailed(
            "Phân công đã thay đổi từ lần đọc trước (routing changed since you read it)",
            errors=[{"field": "header.If-Match", "message": f"current ETag is {rules_etag(current)}"}],
        )
    named = {r.lead_agency for r in wanted} | {c for r in wanted for c in r.coordinating}
    known = set((await session.scalars(select(Agency.code).where(Agency.code.in_(named)))).all())
    errors: list[dict[str, str]] = []
    units: set[str] = set()
    for i, rule in enumerate(wanted):
        if rule.unit_code in units:
            errors.append({"field": f"overrides.{i}.unit_code", "message": f"{rule.unit_code!r} is listed twice"})
        units.add(rule.unit_code)
        if rule.lead_agency not in known:
            errors.append({"field": f"overrides.{i}.lead_agency", "message": f"unknown agency {rule.lead_agency!r}"})
        for j, code in enumerate(rule.coordinating):
            if code not in known:
                errors.append({"field": f"overrides.{i}.coordinating.{j}", "message": f"unknown agency {code!r}"})
    if errors:
        raise ValidationFailed(
            "Phân công không hợp lệ (invalid routing): " + ", ".join(e["field"] for e in errors), errors=errors
        )
    for row in current:
        await session.delete(row)
    await session.flush()  # deleted before the same keys are inserted again
    for rule in wanted:
        session.add(
            RoutingRule(
                target_code=target_code,
                unit_code=rule.unit_code,
                lead_agency=rule.lead_agency,
                coordinating=[c for c in dict.fromkeys(rule.coordinating) if c != rule.lead_agency],
                updated_at=now,
            )
        )
    await session.flush()
    return await rules_of(session, target_code)
