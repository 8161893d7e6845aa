"""UPN checks against the vectors of domain_facts §3, with the check letters worked by hand.

Check letter = sum(position x value, positions 2..13) mod 23 -> ABCDEFGHJKLMNPQRTUVWXYZ
(A=0 B=1 C=2 D=3 E=4 F=5 G=6 H=7 J=8 K=9 L=10 M=11 N=12 P=13 Q=14 R=15 T=16 U=17 V=18
W=19 X=20 Y=21 Z=22); a letter in position 13 takes its value in the same alphabet.
"""

from __future__ import annotations

import pytest

from wlz_pipeline.scoring.upn import accepted_la_codes, check_upn, upn_check_letter

# (upn, weighted sum written out, sum mod 23, letter)
VALID = [
    # 8x2 + 0x3 + 1x4 + 2x5 + 0x6 + 0x7 + 0x8 + 0x9 + 1x10 + 0x11 + 0x12 + 1x13
    # = 16 + 4 + 10 + 10 + 13 = 53; 53 mod 23 = 7 -> H
    ("H801200001001", 53, 7, "H"),
    # temporary: ... + 1x10 + 0x11 + 1x12 + A(0)x13 = 16 + 4 + 10 + 10 + 12 = 52 -> 6 -> G
    ("G80120000101A", 52, 6, "G"),
    # 16 + 4 + 10 + 5x10 + 1x13 = 93; 93 - 92 = 1 -> B
    ("B801200005001", 93, 1, "B"),
    # 9x2 + 5x3 + 1x8 + 7x9 + 8x10 + 3x11 + 1x13 = 18 + 15 + 8 + 63 + 80 + 33 + 13 = 230
    # 230 = 10 x 23 -> 0 -> A
    ("A950000178301", 230, 0, "A"),
]


@pytest.mark.parametrize(("upn", "total", "mod", "letter"), VALID)
def test_valid_vectors(upn: str, total: int, mod: int, letter: str) -> None:
    assert total % 23 == mod  # the arithmetic in the comment
    assert upn_check_letter(upn[1:]) == letter
    result = check_upn(upn)
    assert result.valid, result.reason
    assert result.reason is None
    assert result.temporary is upn[-1].isalpha()


def test_invalid_vector_r247962919251() -> None:
    # 2x2 + 4x3 + 7x4 + 9x5 + 6x6 + 2x7 + 9x8 + 1x9 + 9x10 + 2x11 + 5x12 + 1x13
    # = 4 + 12 + 28 + 45 + 36 + 14 + 72 + 9 + 90 + 22 + 60 + 13 = 405
    # 405 - 391 (17 x 23) = 14 -> Q
    assert upn_check_letter("247962919251") == "Q"
    result = check_upn("R247962919251")
    assert not result.valid
    assert "check letter should be Q, not R" in result.reason
    # 247 is not an LA number either; both problems are reported
    assert "247" in result.reason and "LA" in result.reason


def test_right_letter_but_unknown_la() -> None:
    result = check_upn("Q247962919251")
    assert not result.valid
    assert result.reason == "characters 2-4 (247) are not a recognised LA number"


def test_zone_la_codes_are_accepted() -> None:
    assert {205, 207, 213, 304, 801, 950} <= accepted_la_codes()


def test_zone_upns() -> None:
    # LA 205: 2x2 + 0x3 + 5x4 + 1x5 + 2x6 + 3x7 + 4x8 + 1x9 + 7x10 + 0x11 + 0x12 + 1x13
    # = 4 + 20 + 5 + 12 + 21 + 32 + 9 + 70 + 13 = 186; 186 - 184 = 2 -> C
    assert check_upn("C205123417001").valid
    # LA 304: 3x2 + 4x4 + 1x5 + 2x6 + 3x7 + 4x8 + 1x9 + 8x10 + 2x13
    # = 6 + 16 + 5 + 12 + 21 + 32 + 9 + 80 + 26 = 207 = 9 x 23 -> 0 -> A
    assert check_upn("A304123418002").valid
    assert check_upn("B304123418002").reason == "check letter should be A, not B"


def test_temporary_letter_takes_its_alphabet_value() -> None:
    # 80120000101B: the 52 of G80120000101A plus B(1) x 13 = 65; 65 - 46 = 19 -> W
    result = check_upn("W80120000101B")
    assert (result.valid, result.temporary) == (True, True)
    assert check_upn("G80120000101B").reason == "check letter should be W, not G"


def test_normalisation() -> None:
    result = check_upn(" h8012 0000 1001 ")
    assert result.valid and result.upn == "H801200001001"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "blank"),
        ("   ", "blank"),
        ("H80120000100", "13 characters, not 12"),
        ("H8012000010011", "13 characters, not 14"),
        ("I801200001001", "character 1"),  # I is never a check letter
        ("1801200001001", "character 1"),
        ("HA01200001001", "characters 2-4"),
        ("H80120000A001", "characters 5-12"),
        ("G80120000101I", "character 13"),  # I is not in the alphabet
        ("G80120000101-", "character 13"),
    ],
)
def test_format_errors(value: str | None, fragment: str) -> None:
    result = check_upn(value)
    assert not result.valid
    assert fragment in result.reason


def test_check_letter_rejects_bad_bodies() -> None:
    with pytest.raises(ValueError):
        upn_check_letter("80120000100")  # 11 characters
    with pytest.raises(ValueError):
        upn_check_letter("8012000010O1")  # a letter among the digits


def test_la_list_comes_from_config(config_copy) -> None:
    path = config_copy("upn.yaml")
    text = path.read_text().replace("201, 202, 203, 204, 205,", "201, 202, 203, 204,")
    path.write_text(text)
    assert "not a recognised LA number" in check_upn("C205123417001").reason
