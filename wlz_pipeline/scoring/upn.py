"""Unique Pupil Number (UPN) checks (spec domain_facts.md §3).

A UPN is 13 characters: a check letter, the 3-digit LA number of the allocating school,
the 4-digit establishment number, 2 digits of the allocation year and a 3-character
serial. A permanent UPN ends in a digit; a temporary one ends in a letter. The check
letter is ``sum(position x value for positions 2..13) mod 23`` mapped to
``ABCDEFGHJKLMNPQRTUVWXYZ``, where a digit's value is itself and a letter's value is
its index in that alphabet. The arithmetic is python-stdnum's (``stdnum.gb.upn``); the
LA numbers come from ``config/upn.yaml`` (stdnum's list dates from 2011).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field
from stdnum.gb import upn as _stdnum_upn

from wlz_pipeline.scoring._config import StrictModel, load_settings

CONFIG_FILE = "upn.yaml"

#: The 23 check letters (I, O and S are never used), in value order A=0 … Z=22.
CHECK_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
UPN_LENGTH = 13


class _UpnConfig(StrictModel):
    la_codes: list[int] = Field(min_length=1)
    extra_la_codes: dict[int, str] = Field(default_factory=dict)

    def accepted(self) -> frozenset[int]:
        return frozenset(self.la_codes) | frozenset(self.extra_la_codes)


def _config() -> _UpnConfig:
    return load_settings(CONFIG_FILE, _UpnConfig)


def accepted_la_codes() -> frozenset[int]:
    """The LA numbers accepted in characters 2-4 (``la_codes`` + ``extra_la_codes``)."""
    return _config().accepted()


@dataclass(frozen=True)
class UpnResult:
    """The outcome of checking one UPN.

    ``upn`` is the normalised value (upper case, spaces removed) or ``None`` when blank;
    ``reason`` explains an invalid UPN in words ("check letter should be Q, not R").
    """

    valid: bool
    temporary: bool
    reason: str | None
    upn: str | None = None


def normalise_upn(value: str | None) -> str | None:
    """Upper-case ``value`` and drop spaces; ``None`` for a blank value."""
    if value is None:
        return None
    text = "".join(str(value).split()).upper()
    return text or None


def upn_check_letter(body12: str) -> str:
    """The check letter for the 12 characters after it (positions 2-13).

    ``body12`` is 11 digits followed by a digit (permanent) or a check-alphabet letter
    (temporary). Raises ``ValueError`` otherwise.
    """
    body = body12.strip().upper()
    if len(body) != 12 or not body[:11].isdigit() or not body[:11].isascii():
        raise ValueError(f"UPN body must be 11 digits and a final digit or letter: {body12!r}")
    last = body[11]
    if not (last.isascii() and last.isdigit()) and last not in CHECK_ALPHABET:
        raise ValueError(f"UPN character 13 must be 0-9 or A-Z except I, O, S: {body12!r}")
    return _stdnum_upn.calc_check_digit(body)


def check_upn(value: str | None) -> UpnResult:
    """Check a UPN's format, LA number and check letter.

    Format problems are reported alone (nothing else can be checked); an unknown LA
    number and a wrong check letter are both reported when both apply.
    """
    upn = normalise_upn(value)
    if upn is None:
        return UpnResult(False, False, "UPN is blank", None)

    def bad(reason: str) -> UpnResult:
        return UpnResult(False, False, reason, upn)

    if len(upn) != UPN_LENGTH:
        return bad(f"UPN must be {UPN_LENGTH} characters, not {len(upn)}")
    first, la, middle, last = upn[0], upn[1:4], upn[4:12], upn[12]
    if first not in CHECK_ALPHABET:
        return bad(f"character 1 must be a check letter A-Z except I, O, S, not {first!r}")
    if not (la.isascii() and la.isdigit()):
        return bad(f"characters 2-4 must be the LA number (3 digits), not {la!r}")
    if not (middle.isascii() and middle.isdigit()):
        return bad(f"characters 5-12 must be digits, not {middle!r}")
    temporary = last in CHECK_ALPHABET
    if not temporary and not (last.isascii() and last.isdigit()):
        return bad(f"character 13 must be 0-9 or a letter A-Z except I, O, S, not {last!r}")

    reasons: list[str] = []
    if int(la) not in _config().accepted():
        reasons.append(f"characters 2-4 ({la}) are not a recognised LA number")
    expected = upn_check_letter(upn[1:])
    if expected != first:
        reasons.append(f"check letter should be {expected}, not {first}")
    if reasons:
        return UpnResult(False, temporary, "; ".join(reasons), upn)
    return UpnResult(True, temporary, None, upn)


def is_valid_upn(value: str | None) -> bool:
    """``check_upn(value).valid``."""
    return check_upn(value).valid
