"""The programme's own child id: ``WLZ`` followed by 9 digits (e.g. ``WLZ109248573``).

The format has no check digit (spec README glossary), so only the shape is checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WLZ_ID_PATTERN = re.compile(r"WLZ[0-9]{9}")
WLZ_ID_DIGITS = 9


@dataclass(frozen=True)
class WlzIdResult:
    """``wlz_id`` is the normalised value (upper case, spaces removed) or ``None``."""

    valid: bool
    reason: str | None
    wlz_id: str | None = None


def normalise_wlz_id(value: str | None) -> str | None:
    """Upper-case ``value`` and drop spaces; ``None`` for a blank value."""
    if value is None:
        return None
    text = "".join(str(value).split()).upper()
    return text or None


def check_wlz_id(value: str | None) -> WlzIdResult:
    """Check that ``value`` is ``WLZ`` + 9 digits (case and spaces are forgiven)."""
    wlz_id = normalise_wlz_id(value)
    if wlz_id is None:
        return WlzIdResult(False, "WLZ ID is blank", None)
    if WLZ_ID_PATTERN.fullmatch(wlz_id):
        return WlzIdResult(True, None, wlz_id)
    if not wlz_id.startswith("WLZ"):
        return WlzIdResult(False, f"WLZ ID must start with 'WLZ', got {value!r}", wlz_id)
    return WlzIdResult(
        False, f"WLZ ID must be 'WLZ' followed by {WLZ_ID_DIGITS} digits, got {value!r}", wlz_id
    )


def is_wlz_id(value: str | None) -> bool:
    """``True`` when ``value`` normalises to ``WLZ`` + 9 digits."""
    return check_wlz_id(value).valid


def format_wlz_id(number: int) -> str:
    """The WLZ ID for ``number`` (0 … 999,999,999), zero-padded: ``WLZ000000042``."""
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < 10**9:
        raise ValueError(f"a WLZ ID number must be an int in 0..999999999, got {number!r}")
    return f"WLZ{number:0{WLZ_ID_DIGITS}d}"
