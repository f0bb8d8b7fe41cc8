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
    """Whether a JSON value holds NUL anywhere (in a string or a key), which `jsonb` cannot store.

    Iterative, not recursive: a hostile body may nest thousands of levels deep."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def iso_day(value: object) -> object:
    """The schema says `format: date`; pydantic alone would also take 0 or "0" as a Unix timestamp."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(iso_day)]
