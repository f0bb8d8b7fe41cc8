"""What every service's OpenAPI document says about errors and authentication.

Errors: one RFC 9457 problem schema, on every operation. Authentication: every operation under ``/v1`` needs a
bearer token (the middleware checks it for the whole prefix before routing: ``shared.auth.first``), so every
one of them carries the ``HTTPBearer`` requirement, with its 401/403 responses.

FastAPI documents the success response of each route; the problem documents the error handlers render
(``shared.errors``) are the same for every service, so they are documented here once, when the document is
built: each API operation lists the 4xx/5xx it can answer, all as ``application/problem+json`` with the
``Problem`` schema (or the more specific problem model a route declared, e.g. the import's row errors).
The operations router (``/healthz``, ``/readyz``, ``/metrics``, ``/asyncapi.json``) documents itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
API_PREFIX = "/v1"  # every operation under it needs a bearer token (enforced by `shared.auth.first`)
BEARER = "HTTPBearer"
BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "description": "JWT bearer token (`make token` mints one locally)",
}
_SELF_DOCUMENTED_TAGS = {"operations"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each invalid field when there are several.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri",
            "examples": ["https://htx-monitor.cantho.gov.vn/problems/not-found"],
        },
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string", "description": "Quote it when reporting a problem"},
        "errors": {
            "anyOf": [{"type": "array", "items": {"type": "object"}}, {"type": "null"}],
            "description": "One entry per invalid field: field, message, type",
        },
    },
}

DESCRIPTIONS: dict[str, str] = {
    "400": "Malformed request: the body is not valid JSON / form data",
    "401": "No bearer token, or an invalid, expired or foreign one (`WWW-Authenticate` says why)",
    "403": "The token lacks the scope, or the resource is outside the agency's jurisdiction",
    "404": "Not found",
    "409": "Conflict with the current state",
    "412": "If-Match does not match the current ETag: read again, then retry",
    "413": "The request body is larger than the limit",
    "422": "Invalid input: `errors` names each field",
    "428": "If-Match is required: send the ETag of your last read",
    "429": "Too many requests from the caller's agency: retry after `Retry-After` seconds",
    "500": "Unexpected error; it was logged with the request id",
    "503": "A dependency is temporarily unavailable",
}


def document_problems(app: FastAPI) -> None:
    """Build the app's OpenAPI document as FastAPI does, then document the problem responses on it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_responses(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_problem_responses(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None or _SELF_DOCUMENTED_TAGS & set(operation.get("tags", [])):
                continue
            if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                # The bearer token is checked for the whole prefix before routing (`shared.auth.first`), so the
                # scheme is declared here rather than by a security dependency on each route.
                operation["security"] = [{BEARER: []}]
                components.setdefault("securitySchemes", {})[BEARER] = BEARER_SCHEME
            _document_operation(path, operation)
    if not _references(document, _FASTAPI_VALIDATION_REF):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return document


def _document_operation(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    parameters = operation.get("parameters", [])
    expected = {"422", "500"}
    if operation.get("security"):
        expected |= {"401", "403"}
    if operation.get("requestBody"):
        expected |= {"400", "413"}
    if "{" in path:
        expected.add("404")
    for parameter in parameters:
        _not_null(parameter)
        if parameter.get("in") == "header" and parameter.get("name", "").lower() == "if-match":
            expected.add("412")
            # An operation that answers 428 without If-Match requires it: the document says so.
            if "428" in responses:
                parameter["required"] = True
                parameter.setdefault("schema", {})["minLength"] = 1  # an empty If-Match is a missing one
    for status in expected:
        responses.setdefault(status, {})
    for response in responses.values():
        for header in (response.get("headers") or {}).values():
            # OpenAPI requires a header's `schema` (or `content`); a route that only described it sends a string.
            if "schema" not in header and "content" not in header:
                header["schema"] = {"type": "string"}
    for status, response in responses.items():
        if status[:1] not in {"4", "5"}:
            continue
        content = response.get("content") or {}
        declared = (content.get(PROBLEM_JSON) or content.get("application/json") or {}).get("schema")
        if not declared or declared.get("$ref") == _FASTAPI_VALIDATION_REF:
            declared = {"$ref": PROBLEM_REF}
        example = (content.get(PROBLEM_JSON) or {}).get("example")
        media: dict[str, Any] = {"schema": declared}
        if example is not None:
            media["example"] = example
        response["content"] = {PROBLEM_JSON: media}
        if not response.get("description") or response["description"] in {"Additional Response", "Validation Error"}:
            response["description"] = DESCRIPTIONS.get(status, "Problem")


def _not_null(parameter: dict[str, Any]) -> None:
    """HTTP cannot send a null header or query value: an optional parameter is absent, never `null`."""
    schema = parameter.get("schema") or {}
    branches = schema.get("anyOf")
    if not branches:
        return
    kept = [b for b in branches if b.get("type") != "null"]
    if len(kept) == 1 and len(kept) != len(branches):
        del schema["anyOf"]
        schema.update(kept[0])


def _references(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_references(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_references(v, ref) for v in node)
    return False
