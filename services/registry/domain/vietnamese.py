"""Vietnamese text helpers: search that ignores diacritics ("hop tac xa my khanh" finds "Hợp tác xã Mỹ Khánh")."""

from __future__ import annotations

import re
import unicodedata

from unidecode import unidecode

_SPACES = re.compile(r"\s+")


def normalise_name(text: str) -> str:
    """NFC and single spaces: the form names are stored in (a name typed on two keyboards compares equal)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def fold(text: str) -> str:
    """Lower case, no diacritics (đ → d), single spaces — the form search compares on."""
    return _SPACES.sub(" ", unidecode(unicodedata.normalize("NFC", text)).lower()).strip()
