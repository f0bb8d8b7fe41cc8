"""Input rules every service states in its OpenAPI schema and enforces: text without control characters, ISO dates.

PostgreSQL cannot store NUL in `text` or `jsonb`, XML (hence an XLSX sheet) cannot hold the other C0 characters
or U+FFFE/U+FFFF, and no name, code or title contains a control character or a noncharacter. So every free-text
input carries :data:`NO_CONTROL_CHARACTERS` (FastAPI and pydantic enforce it and put it in the schema), or is
one of the :data:`Text` / :data:`Prose` types built on it. Lone surrogates never get this far: pydantic refuses
a string that is not valid Unicode. What was stored before these rules is made safe on the way out by
:func:`printable`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints

# C0 (NUL … U+001F), DEL, C1 (U+0080 … U+009F) and the noncharacters of the Basic Multilingual Plane. The pattern
# is written so that JSON Schema (ECMA-262), Python's `re` and pydantic's Rust regex all read it the same way.
REFUSED_CHARACTERS = r"\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff"
_REFUSED_IN_PROSE = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff"  # keeps tab, LF, CR
NO_CONTROL_CHARACTERS = rf"^[^{REFUSED_CHARACTERS}]*$"
# Prose (a report's summary) may keep its line breaks and tabs, and no other control character.
PROSE_CHARACTERS = rf"^[^{_REFUSED_IN_PROSE}]*$"
DIGITS = r"^[0-9]+$"
# An agency code as tokens and events carry it: SNN, LMHTX, UBND-926.
AGENCY_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

# The noncharacters outside the BMP (U+1FFFE, U+1FFFF … U+10FFFF), which a JSON Schema pattern cannot spell
# portably; the validator below refuses them.
_ASTRAL_NONCHARACTERS = re.compile("[" + "".join(f"\\U{p:04x}fffe\\U{p:04x}ffff" for p in range(1, 17)) + "]")
# Everything an XML 1.0 document (an XLSX sheet) cannot hold, plus what the input rules refuse.
_UNPRINTABLE = re.compile(f"[{REFUSED_CHARACTERS}\ud800-\udfff]|{_ASTRAL_NONCHARACTERS.pattern}")
_UNPRINTABLE_PROSE = re.compile(f"[{_REFUSED_IN_PROSE}\ud800-\udfff]|{_ASTRAL_NONCHARACTERS.pattern}")


def no_astral_noncharacters(value: str) -> str:
    if found := _ASTRAL_NONCHARACTERS.search(value):
        raise ValueError(f"must not contain the noncharacter U+{ord(found.group()):04X}")
    return value


Text = Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARACTERS), AfterValidator(no_astral_noncharacters)]
"""Free text on one line: names, addresses, references, labels. Narrow it with another `StringConstraints`."""

Prose = Annotated[str, StringConstraints(pattern=PROSE_CHARACTERS), AfterValidator(no_astral_noncharacters)]
"""Free text that may span lines (tabs, CR and LF allowed), such as a report's summary."""


def printable(value: str, *, multiline: bool = False) -> str:
    """The text with every character the input rules refuse replaced by U+FFFD, so a value stored before the
    rules (or by another path) can still be written to an XLSX sheet or a CSV file."""
    return (_UNPRINTABLE_PROSE if multiline else _UNPRINTABLE).sub("\ufffd", value)


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
