"""Every documented operation of the three services with forged, expired and foreign tokens (401) and with
another service's scopes (403)."""

from __future__ import annotations

import pytest

from tests.conftest import report
from tests.integration.attack_support import (
    REGISTRY,
    SAMPLE,
    SCOPES,
    World,
    attack_world,  # noqa: F401  (pytest finds it as this module's `world`)
    bad_tokens,
    fill_path,
    is_problem,
    operations,
)

pytestmark = pytest.mark.integration


def every_operation(w: World) -> list[tuple[str, str, str]]:
    """(service, method, concrete path) for every documented /v1 operation."""
    found = []
    for service, app in w.apps.items():
        for op in operations(app, writes=True) + operations(app, writes=False):
            method, path = op.split(" ", 1)
            values = {"cooperative_id": w.coops["926"]["id"], **SAMPLE[service]}
            found.append((service, method, fill_path(path, values)))
    return found


async def test_forged_expired_and_foreign_tokens_get_401_and_missing_scope_403(world: World) -> None:
    failures: list[str] = []
    refused = forged = scoped = 0
    for service, method, path in every_operation(world):
        client = world.clients[service]
        body = {} if method != "GET" else None
        for name, value in bad_tokens(world.auth, "SNN", SCOPES[service]).items():
            headers = {} if value is None else {"Authorization": value}
            r = await client.request(method, path, json=body, headers=headers)
            forged += 1
            www = r.headers.get("www-authenticate", "")
            if r.status_code == 401 and is_problem(r) and www.startswith("Bearer"):
                refused += 1
            else:
                failures.append(f"{service} {method} {path} [{name}]: {r.status_code} {www!r} {r.text[:200]}")
        others = " ".join(scope for other, scope in SCOPES.items() if other != service)
        r = await client.request(method, path, json=body, headers=world.token("SNN", others))
        if r.status_code == 403 and is_problem(r) and "insufficient_scope" in r.headers.get("www-authenticate", ""):
            scoped += 1
        else:
            failures.append(f"{service} {method} {path} [other services' scopes]: {r.status_code} {r.text[:200]}")
    operations_count = len(every_operation(world))
    kinds = len(bad_tokens(world.auth, "SNN", REGISTRY))
    report(
        f"[attack] tokens: 3 services, {operations_count} operations × {kinds} bad tokens (none, tampered, alg=none, "
        f"expired, wrong iss/aud, …) → 401 {refused}/{forged}; missing scope → 403 {scoped}/{operations_count}"
    )
    assert not failures, "\n".join(failures[:40])
