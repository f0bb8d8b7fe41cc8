"""Schemathesis against each service's own OpenAPI document: zero failures, with a token and without one.

Each service runs as deployed, `python -m services.<name>` on a loopback port (its real lifespan: schema check,
Kafka producer, relay, consumers), against the harness's PostgreSQL and Kafka, in a database and topic namespace
of its own.
The registry runs in every test so the reference data it seeds at start-up (units, agencies) exists and reaches
the other services over Kafka, as in production.

With a city-wide token (SNN, every scope) schemathesis runs its default phases (examples, coverage, fuzzing,
stateful) and every default check: no 5xx, status codes / content types / headers / bodies as documented,
schema-valid input accepted, schema-invalid input rejected. The figures (requests sent, failures) are printed
in the test summary. Then the same document is sent without a token: every request to the API (`/v1/…`) must
answer 401 problem+json with `WWW-Authenticate: Bearer …` — authentication comes before routing and body parsing
(`shared.auth.first`), so not even a malformed body or an unknown path is answered otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import events
from schemathesis.engine.statistic import Statistic

from shared.auth import mint_token
from shared.settings import AuthSettings
from tests.conftest import report

pytestmark = pytest.mark.integration

SEED = 219  # fixed: CI runs the same examples every time
MAX_EXAMPLES = 12  # per operation and phase; the whole file stays within a few minutes

ALL_SCOPES = "registry:read registry:write indicators:read indicators:admin notifications:read notifications:write"

# Operations not fuzzed, each with its reason.
EXCLUDED: dict[str, str] = {
    "GET /v1/stream": "server-sent events: the response never ends, so no check could read it to the end",
}

# Where a schema-valid request can still be refused by a rule that JSON Schema cannot state, the positive-data
# check also accepts that answer for that operation only, and says why. Everything else is expressed in the schema
# (patterns, oneOf per kind, minProperties, required If-Match) — see docs/decisions.md, "OpenAPI conformance".
POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
OPAQUE_CURSOR = "`cursor` is opaque: only a cursor the server issued is valid"
BUSINESS_RULES: dict[str, tuple[list[str], str]] = {
    # registry
    "GET /v1/cooperatives": (["422"], OPAQUE_CURSOR),
    "GET /v1/cooperatives/export": (["422"], "`unit` must name an existing administrative unit (reference data)"),
    "POST /v1/cooperatives": (
        ["422"],
        "`unit_code` must name an existing unit (reference data); Idempotency-Key reuse",
    ),
    "PATCH /v1/cooperatives/{cooperative_id}": (
        ["412", "422"],
        "a well-formed If-Match can be stale (412, RFC 9110); `unit_code` must exist (reference data)",
    ),
    "POST /v1/cooperatives/{cooperative_id}/status-reports": (
        ["422"],
        "cross-field arithmetic: trained/female/under-35 managers ≤ managers_total, as_of within a year of period",
    ),
    "POST /v1/cooperatives/import": (["422"], "the schema says `a file`; its rows are validated one by one"),
    "POST /v1/report-submissions": (
        ["422"],
        "an Idempotency-Key reused with another body is 422 (draft-ietf-httpapi-idempotency-key-header)",
    ),
    # indicators
    "PUT /v1/plans/{code}": (
        ["422"],
        "the document must name the plan of the path (its code or slug), and be consistent: unique indicator and "
        "target codes, a target's indicator defined in the plan, a change based on a base indicator, each kind with "
        "its fields, known condition fields/operators; no NUL inside a condition's free-form JSON `value`",
    ),
    # notifications
    "GET /v1/alerts": (["422"], OPAQUE_CURSOR),
    "POST /v1/alerts/{alert_id}/acknowledge": (["412"], "a well-formed If-Match can be stale (412, RFC 9110)"),
    "POST /v1/alerts/{alert_id}/resolve": (["412"], "a well-formed If-Match can be stale (412, RFC 9110)"),
    "GET /v1/deadlines": (["422"], OPAQUE_CURSOR),
    "GET /v1/inbox": (["422"], OPAQUE_CURSOR),
    "POST /v1/report-requests": (
        ["422"],
        "`due_on` must not be before today (the clock); each agency must be known and active (reference data); "
        "an Idempotency-Key reused with another body",
    ),
    "PUT /v1/routing/{target_code}": (
        ["412", "422"],
        "a well-formed If-Match can be stale (412); agencies must exist (reference data); a unit once per target",
    ),
    "PUT /v1/agencies/{code}/channels": (
        ["412", "422"],
        "a well-formed If-Match can be stale (412); a new webhook needs `secret` while a known one keeps its own "
        "(stored state), so the per-kind rules (e-mail address, http(s) URL, secret length) are checked with it and "
        "one 422 names every invalid field; a channel (kind, address) listed once",
    ),
}
# A missing If-Match is answered 428 Precondition Required (RFC 6585), the status made for exactly that.
MISSING_HEADER_STATUSES = ["400", "401", "403", "406", "415", "422", "428"]

# Everything under /v1 needs a token; the operations endpoints (/healthz, /readyz, /metrics, /asyncapi.json) do not.
API_PREFIX = "/v1/"


@contextlib.contextmanager
def serving(service: str, logs: Path) -> Iterator[str]:
    """`python -m services.<service>` on a free loopback port, as deployed, with this test's environment.

    A process of its own, not a thread of the test's: on Python 3.11 formatting a traceback runs `ast.parse`
    (for the caret lines), and so does hypothesis inside schemathesis; the interpreter's AST recursion counter is
    shared by threads, and one run failed with "AST constructor recursion depth mismatch" when a service thread
    logged a traceback at the wrong moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    prefix = service.upper()
    env = {**os.environ, f"{prefix}_PORT": str(port), f"{prefix}_HOST": "127.0.0.1"}
    log_path = logs / f"{service}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", f"services.{service}"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"{service} did not become ready:\n{tail}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Outcome:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    operations: set[str] = field(default_factory=set)
    responses: list[tuple[str, int, str, str, Any]] = field(default_factory=list)


def run_schemathesis(base: str, headers: dict[str, str], *, phases: list[str] | None = None) -> Outcome:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},
            "headers": headers,
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {name: {"enabled": name in phases} for name in ("examples", "coverage", "fuzzing", "stateful")}
            if phases
            else {},
            "checks": {"missing_required_header": {"expected-statuses": MISSING_HEADER_STATUSES}},
            "operations": [
                {
                    "include-name": label,
                    "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_DEFAULT + extra}},
                }
                for label, (extra, _reason) in BUSINESS_RULES.items()
            ],
            "request-timeout": 30,
            "workers": 1,
        }
    )
    document = httpx.get(f"{base}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.config.update(base_url=base)
    for label in EXCLUDED:
        method, path = label.split(" ", 1)
        schema = schema.exclude(method=method, path=path)

    outcome = Outcome()
    statistic = Statistic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            statistic.on_scenario_finished(event.recorder)
            for interaction in event.recorder.interactions.values():
                response = interaction.response
                if response is None:
                    continue
                outcome.requests += 1
                outcome.statuses[response.status_code] = outcome.statuses.get(response.status_code, 0) + 1
                outcome.operations.add(event.recorder.label)
                try:
                    body = response.json()
                except Exception:
                    body = None
                outcome.responses.append(
                    (
                        event.recorder.label,
                        response.status_code,
                        response.headers.get("content-type", [""])[0],
                        response.headers.get("www-authenticate", [""])[0],
                        body,
                    )
                )
        elif isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            outcome.errors.append(f"fatal: {event.exception!r}")
    for label, grouped in statistic.failures.items():
        for group in grouped.values():
            response = group.response
            answer = f"{response.status_code} {response.text[:400]}" if response is not None else "no response"
            for failure in group.failures:
                outcome.failures.append(
                    f"{label}: [{failure.code}] {failure.title} — {failure.message}\n"
                    f"    request: {group.code_sample}\n    response: {answer}"
                )
    return outcome


def _refused_for_no_token(status: int, content_type: str, challenge: str, body: Any) -> bool:
    return (
        status == 401
        and content_type.startswith("application/problem+json")
        and challenge.startswith("Bearer ")
        and isinstance(body, dict)
        and body.get("status") == 401
    )


SERVICES = ("registry", "indicators", "notifications")


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.timeout(600)
async def test_fuzz(service: str, isolated_env: dict[str, str], auth_settings: AuthSettings, tmp_path: Path) -> None:
    token = mint_token(auth_settings, agency="SNN", scopes=ALL_SCOPES)
    with contextlib.ExitStack() as stack:
        registry_base = stack.enter_context(serving("registry", tmp_path))
        base = registry_base if service == "registry" else stack.enter_context(serving(service, tmp_path))
        with_token = await asyncio.to_thread(run_schemathesis, base, {"Authorization": f"Bearer {token}"})
        without = await asyncio.to_thread(run_schemathesis, base, {}, phases=["examples", "fuzzing"])

    # Without a token every API request answers 401 problem+json, whatever its path, parameters or body.
    api_requests = [r for r in without.responses if r[0].split(" ", 1)[1].startswith(API_PREFIX)]
    unauthenticated = [
        (label, status, ctype, body)
        for label, status, ctype, challenge, body in api_requests
        if not _refused_for_no_token(status, ctype, challenge, body)
    ]
    statuses = ", ".join(f"{code}×{n}" for code, n in sorted(with_token.statuses.items()))
    report(
        f"[fuzz] {service}: {with_token.requests} requests fuzzed with a token over {len(with_token.operations)} "
        f"operations ({statuses}), failures = {len(with_token.failures)}; {without.requests} requests without a "
        f"token ({len(api_requests)} to /v1), non-401 answers = {len(unauthenticated)}"
    )
    assert not with_token.errors, "\n".join(with_token.errors)
    assert not with_token.failures, "\n".join(with_token.failures)
    assert not without.errors, "\n".join(without.errors)
    assert api_requests
    assert not unauthenticated, unauthenticated[:10]
