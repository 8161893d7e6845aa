"""WLZ IDs: ``WLZ`` + 9 digits."""

from __future__ import annotations

import pytest

from wlz_pipeline.scoring.ids import check_wlz_id, format_wlz_id, is_wlz_id


def test_valid() -> None:
    assert is_wlz_id("WLZ109248573")
    result = check_wlz_id(" wlz109248573 ")
    assert (result.valid, result.wlz_id, result.reason) == (True, "WLZ109248573", None)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "blank"),
        ("", "blank"),
        ("WLZ10924857", "9 digits"),  # 8 digits
        ("WLZ1092485730", "9 digits"),  # 10 digits
        ("WLZ10924857X", "9 digits"),
        ("ABC109248573", "start with 'WLZ'"),
        ("109248573", "start with 'WLZ'"),
    ],
)
def test_invalid(value: str | None, fragment: str) -> None:
    result = check_wlz_id(value)
    assert not result.valid
    assert fragment in result.reason


def test_format() -> None:
    assert format_wlz_id(42) == "WLZ000000042"
    assert format_wlz_id(999_999_999) == "WLZ999999999"
    with pytest.raises(ValueError):
        format_wlz_id(1_000_000_000)
    with pytest.raises(ValueError):
        format_wlz_id(-1)
