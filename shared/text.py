"""Input rules every service states in its OpenAPI schema and enforces: text without control characters, ISO dates.

PostgreSQL cannot store NUL in `text` or `jsonb`, and no name, code or title contains a control character, so
string inputs that reach the database carry this pattern (FastAPI enforces it and puts it in the schema).
The registry's own input types (`services.registry.domain.inputs.TEXT`) use the same rule.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator

NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
DIGITS = r"^[0-9]+$"
# An agency code as tokens and events carry it: SNN, LMHTX, UBND-926.
AGENCY_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds NUL anywhere (in a string or a key), which `jsonb` cannot store."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def iso_day(value: object) -> object:
    """The schema says `format: date`; pydantic alone would also take 0 or "0" as a Unix timestamp."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(iso_day)]
