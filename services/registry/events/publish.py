"""What the registry publishes, built from its rows (always the full new state: event-carried state transfer)."""

from __future__ import annotations

from datetime import datetime

from services.registry.db.models import Agency, Cooperative, OrgUnit, ReportSubmission, StatusReport
from shared.events.contracts import (
    AgencyV1,
    Classification,
    CooperativeStatusV1,
    LegalStatus,
    OrgUnitV1,
    ReportKind,
    ReportSubmissionV1,
    Sector,
    StatusSnapshot,
)


def snapshot(report: StatusReport) -> StatusSnapshot:
    return StatusSnapshot(
        report_id=report.id,
        as_of=report.as_of,
        period=report.period,
        members_official=report.members_official,
        members_associate=report.members_associate,
        charter_capital_vnd=report.charter_capital_vnd,
        revenue_vnd=report.revenue_vnd,
        farmland_ha=report.farmland_ha,
        production_value_vnd=report.production_value_vnd,
        classification=Classification(report.classification),
        is_model=report.is_model,
        enterprise_linked=report.enterprise_linked,
        enterprise_partners=list(report.enterprise_partners or []),
        high_tech_or_gap=report.high_tech_or_gap,
        certifications=list(report.certifications or []),
        ecommerce=report.ecommerce,
        ecommerce_platforms=list(report.ecommerce_platforms or []),
        ocop_products=report.ocop_products,
        managers_total=report.managers_total,
        managers_trained=report.managers_trained,
        managers_female=report.managers_female,
        managers_under_35=report.managers_under_35,
    )


def cooperative_status(coop: Cooperative, latest: StatusReport | None, changed_at: datetime) -> CooperativeStatusV1:
    return CooperativeStatusV1(
        cooperative_id=coop.id,
        version=coop.version,
        registration_code=coop.registration_code,
        name=coop.name,
        unit_code=coop.unit_code,
        sector=Sector(coop.sector),
        legal_status=LegalStatus(coop.legal_status),
        established_on=coop.established_on,
        status=snapshot(latest) if latest is not None else None,
        changed_at=changed_at,
    )


def org_unit(unit: OrgUnit) -> OrgUnitV1:
    return OrgUnitV1(
        code=unit.code,
        name=unit.name,
        level=unit.level,
        parent_code=unit.parent_code,
        valid_from=unit.valid_from,
        valid_to=unit.valid_to,
        version=unit.version,
    )


def agency(row: Agency) -> AgencyV1:
    return AgencyV1(
        code=row.code,
        name=row.name,
        kind=row.kind,
        jurisdiction_unit_code=row.jurisdiction_unit_code,
        active=row.active,
        version=row.version,
    )


def report_submission(row: ReportSubmission) -> ReportSubmissionV1:
    return ReportSubmissionV1(
        submission_id=row.id,
        agency_code=row.agency_code,
        kind=ReportKind(row.kind),
        period=row.period,
        reference=row.reference,
        submitted_on=row.submitted_on,
        summary_text=row.summary,
        document_url=row.document_url,
        request_id=row.request_id,
    )
