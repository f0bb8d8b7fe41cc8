"""Hostile values anywhere get a clean 4xx, and no response of any attack suite shows a stack trace or SQL.

The module's name sorts after the other attack suites, so its last test reads every response they received in
this run (the world's own set-up requests, when it runs alone).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import report
from tests.integration.attack_support import (
    LOG,
    PLAN,
    ROUTED_TARGET,
    SCOPES,
    World,
    attack_world,  # noqa: F401  (pytest finds it as this module's `world`)
    is_problem,
    sheet,
)
from tests.integration.registry_support import cooperative_body

pytestmark = pytest.mark.integration


async def test_hostile_values_never_get_a_500(world: World) -> None:
    """NUL cannot be stored by PostgreSQL (a 500 before the fix); quotes are just text (a search finds nothing)."""
    nul, quote = "\u0000", "92' OR '1'='1"
    probes: list[tuple[str, str, str, dict[str, Any]]] = [
        ("registry", "GET", "/v1/cooperatives", {"params": {"q": nul}}),
        ("registry", "GET", "/v1/cooperatives", {"params": {"q": quote}}),
        ("registry", "GET", "/v1/cooperatives", {"params": {"unit": nul}}),
        ("registry", "GET", "/v1/cooperatives", {"params": {"unit": quote}}),
        ("registry", "GET", "/v1/cooperatives", {"params": {"cursor": "eyJzIjoibmFtZSJ9"}}),
        ("registry", "GET", "/v1/cooperatives/not-a-uuid", {}),
        ("registry", "GET", "/v1/org-units/%00", {}),
        ("registry", "GET", "/v1/agencies/" + quote, {}),
        ("registry", "GET", "/v1/report-submissions", {"params": {"agency": nul, "period": nul}}),
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(name="HTX " + nul)}),
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(address="Ấp " + nul)}),
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(unit_code=nul)}),
        (
            "registry",
            "POST",
            "/v1/cooperatives",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
        (
            "registry",
            "POST",
            "/v1/cooperatives",
            {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}},
        ),
        (
            "registry",
            "POST",
            "/v1/cooperatives/import",
            {"files": {"file": ("x.csv", b"\x00\x01\x02" * 100, "text/csv")}},
        ),
        (
            "registry",
            "POST",
            "/v1/cooperatives/import",
            {"files": {"file": ("x.xlsx", b"PK\x03\x04garbage", "application/zip")}},
        ),
        (
            "registry",
            "POST",
            "/v1/cooperatives/import",
            {"files": {"file": ("x.csv", sheet("1800000000", "HTX " + nul, "926"), "text/csv")}},
        ),
        ("registry", "DELETE", "/v1/cooperatives", {}),
        ("registry", "GET", "/v1/nowhere", {}),
        ("indicators", "GET", "/v1/progress", {"params": {"unit": nul}}),
        ("indicators", "GET", "/v1/progress", {"params": {"plan": quote}}),
        ("indicators", "GET", "/v1/indicators/%00/values", {}),
        ("indicators", "GET", "/v1/indicators/fair_or_better_share/values", {"params": {"from": nul}}),
        ("indicators", "GET", "/v1/targets/" + quote + "/progress", {}),
        ("indicators", "PUT", f"/v1/plans/{PLAN}", {"json": {"code": nul}}),
        # The classes outside testers found: control and noncharacters, integers beyond their column, year 0,
        # implausible dates, a hand-made cursor, a Last-Event-ID that is not a number, internal webhook targets.
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(contact_email="a" + nul + "@b.vn")}),
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(name="HTX \u0019 Mỹ Khánh")}),
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(name="HTX \uffff")}),
        ("registry", "POST", "/v1/cooperatives", {"json": cooperative_body(established_on="9999-12-31")}),
        ("registry", "GET", f"/v1/cooperatives/{uuid.uuid4()}/history", {"params": {"before": str(2**63)}}),
        ("registry", "GET", "/v1/cooperatives", {"params": {"cursor": "eyJ2IjoiXHUwMDAwIn0"}}),
        (
            "registry",
            "POST",
            "/v1/report-submissions",
            {
                "json": {
                    "kind": "annual",
                    "period": "0000",
                    "reference": "1/BC",
                    "submitted_on": "0001-01-01",
                    "summary": "x",
                }
            },
        ),
        ("notifications", "GET", "/v1/stream", {"headers": {"Last-Event-ID": "abc"}}),
        (
            "notifications",
            "PUT",
            "/v1/agencies/SNN/channels",
            {
                "json": {"channels": [{"kind": "webhook", "address": "http://169.254.169.254/latest/meta-data"}]},
                "headers": {"If-Match": '"x"'},
            },
        ),
        ("notifications", "GET", "/v1/alerts", {"params": {"agency": nul}}),
        ("notifications", "GET", "/v1/alerts", {"params": {"unit": nul, "target": nul}}),
        ("notifications", "GET", "/v1/alerts", {"params": {"cursor": nul}}),
        ("notifications", "GET", "/v1/deadlines", {"params": {"agency": nul, "period": nul}}),
        ("notifications", "GET", "/v1/routing/" + quote, {}),
        ("notifications", "GET", "/v1/agencies/%00/channels", {}),
        (
            "notifications",
            "POST",
            "/v1/report-requests",
            {"json": {"title": "Báo cáo " + nul, "agencies": ["SNN"], "due_on": "2025-12-31"}},
        ),
        (
            "notifications",
            "POST",
            "/v1/report-requests",
            {"json": {"title": "Báo cáo", "agencies": [nul], "due_on": "2025-12-31"}},
        ),
        (
            "notifications",
            "PUT",
            f"/v1/routing/{ROUTED_TARGET}",
            {"json": {"overrides": [{"lead_agency": nul}]}, "headers": {"If-Match": '"x"'}},
        ),
        (
            "notifications",
            "PUT",
            "/v1/agencies/SNN/channels",
            {"json": {"channels": [{"kind": "email", "address": "a@b" + nul}]}, "headers": {"If-Match": '"x"'}},
        ),
    ]
    bad: list[str] = []
    for service, method, path, kwargs in probes:
        headers = {**world.token("SNN", SCOPES[service]), **kwargs.pop("headers", {})}
        r = await world.clients[service].request(method, path, headers=headers, **kwargs)
        if r.status_code >= 500 or (r.status_code >= 400 and not is_problem(r)):
            bad.append(f"{service} {method} {path!r} {kwargs.get('params', '')}: {r.status_code} {r.text[:200]}")
    report(
        f"[attack] hostile values (NUL and control characters, quotes, bad JSON/UTF-8/files/cursors, huge integers,"
        f" year 0, internal webhooks): {len(probes)} probes, no 5xx"
    )
    assert not bad, "\n".join(bad)


async def test_no_response_contained_a_stack_trace_or_sql(world: World) -> None:
    """Runs last: every body the attack suites received (matrix, reads, tokens, limits, probes) is checked."""
    leaks, errors = LOG.leaks(), LOG.server_errors()
    report(
        f"[attack] responses checked for stack traces/SQL: {len(LOG.seen)}; leaks {len(leaks)}; 5xx {len(errors)}; "
        f"statuses {dict(sorted(LOG.statuses.items()))}"
    )
    assert LOG.seen
    assert not leaks, leaks[:10]
    assert not errors, errors[:10]
