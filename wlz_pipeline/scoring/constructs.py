"""Survey answer coding and construct scoring, driven by ``config/survey.yaml``.

- ``code_answer`` turns one exported answer (a code, or the printed answer text in any
  letter case) into its scale code, or raises ``InvalidAnswer`` saying what was expected;
- ``item_columns`` lists every item column of the survey export;
- ``score_construct`` scores one construct of rules.md §5 ("Other survey constructs")
  from coded answers: its score, whether it is at risk, and what produced that.

Adding a construct, an item or an answer scale is an edit to ``survey.yaml`` only.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, RootModel, model_validator

from wlz_pipeline.scoring._config import StrictModel, load_settings

CONFIG_FILE = "survey.yaml"

Number = int | float
RawAnswer = str | int | float | None

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

# ---------------------------------------------------------------------------- config


class _NumericRange(StrictModel):
    min: int
    max: int

    @model_validator(mode="after")
    def _check(self) -> _NumericRange:
        if self.min > self.max:
            raise ValueError(f"numeric min {self.min} is above max {self.max}")
        return self


class _NumericScale(StrictModel):
    numeric: _NumericRange


class _LabelScale(RootModel[dict[str, int]]):
    @model_validator(mode="after")
    def _check(self) -> _LabelScale:
        if not self.root:
            raise ValueError("a labelled scale needs at least one label")
        keys = [k.strip().casefold() for k in self.root]
        if len(set(keys)) != len(keys):
            raise ValueError("two labels of the scale differ only in case or spaces")
        return self


class _ItemGroup(StrictModel):
    scale: str
    prefix: str | None = None
    count: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> _ItemGroup:
        if (self.prefix is None) != (self.count is None):
            raise ValueError("an item group needs both prefix and count, or neither")
        return self


class _AtRisk(StrictModel):
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    threshold: float


class _Construct(StrictModel):
    items: list[str] = Field(min_length=1)
    scoring: Literal["sum", "mean", "any", "value", "ratio"]
    min_answered: int | None = Field(default=None, ge=1)
    at_risk: _AtRisk

    @model_validator(mode="after")
    def _check(self) -> _Construct:
        if len(set(self.items)) != len(self.items):
            raise ValueError("a construct lists an item twice")
        if self.scoring == "value" and len(self.items) != 1:
            raise ValueError("scoring 'value' needs exactly one item")
        if self.scoring == "ratio" and len(self.items) != 2:
            raise ValueError("scoring 'ratio' needs exactly two items (numerator, denominator)")
        if self.min_answered is not None and self.min_answered > len(self.items):
            raise ValueError(
                f"min_answered {self.min_answered} exceeds the {len(self.items)} items"
            )
        if self.scoring == "ratio" and self.min_answered not in (None, 2):
            raise ValueError("scoring 'ratio' needs both items (min_answered 2)")
        return self

    @property
    def needed(self) -> int:
        return len(self.items) if self.min_answered is None else self.min_answered


class _SurveyConfig(StrictModel):
    scales: dict[str, _NumericScale | _LabelScale]
    items: dict[str, _ItemGroup]
    constructs: dict[str, _Construct]

    @model_validator(mode="after")
    def _check(self) -> _SurveyConfig:
        for name, group in self.items.items():
            if group.scale not in self.scales:
                raise ValueError(f"items.{name}: unknown scale {group.scale!r}")
        columns = _columns(self)
        if len(set(columns)) != len(columns):
            raise ValueError("two item groups produce the same export column")
        known = set(columns)
        for name, construct in self.constructs.items():
            unknown = [i for i in construct.items if i not in known]
            if unknown:
                raise ValueError(f"constructs.{name}: unknown item(s) {unknown}")
        return self


def _columns(cfg: _SurveyConfig) -> list[str]:
    out: list[str] = []
    for name, group in cfg.items.items():
        if group.prefix is not None and group.count is not None:
            out.extend(f"{group.prefix}{i}" for i in range(1, group.count + 1))
        else:
            out.append(name)
    return out


def _config() -> _SurveyConfig:
    return load_settings(CONFIG_FILE, _SurveyConfig)


# ------------------------------------------------------------------------- coding


class InvalidAnswer(ValueError):  # noqa: N818 - the name the pipeline reports
    """An answer that is neither blank, a label of the item's scale, nor one of its codes."""

    def __init__(self, item: str, value: object, expected: str) -> None:
        self.item = item
        self.value = value
        self.expected = expected
        super().__init__(f"{item}: {value!r} is not a valid answer; expected {expected}")

    @property
    def message(self) -> str:
        """The human-readable message (what the pipeline quarantines the answer with)."""
        return str(self)


class UnknownItem(KeyError):  # noqa: N818
    """An item column that ``survey.yaml`` does not define."""


def item_columns() -> list[str]:
    """Every item column of the survey export, in config order.

    ``sdq_1`` … ``sdq_25``, ``wemwbs_1`` … ``wemwbs_14``, then the named items.
    """
    return _columns(_config())


def construct_names() -> list[str]:
    """The constructs defined in ``survey.yaml``, in config order."""
    return list(_config().constructs)


def _scale_of(item: str) -> tuple[str, _NumericScale | _LabelScale]:
    cfg = _config()
    for name, group in cfg.items.items():
        if group.prefix is not None and group.count is not None:
            suffix = item[len(group.prefix) :] if item.startswith(group.prefix) else ""
            if suffix.isdigit() and 1 <= int(suffix) <= group.count and str(int(suffix)) == suffix:
                return group.scale, cfg.scales[group.scale]
        elif item == name:
            return group.scale, cfg.scales[group.scale]
    raise UnknownItem(f"{item!r} is not an item of the survey (config/{CONFIG_FILE})")


def _expected(scale: _NumericScale | _LabelScale) -> str:
    if isinstance(scale, _NumericScale):
        return f"a whole number from {scale.numeric.min} to {scale.numeric.max}"
    options = ", ".join(f"{label!r} ({code})" for label, code in scale.root.items())
    return f"one of {options}, or its code"


def _as_whole_number(raw: str | int | float) -> int | None:
    """``raw`` as an int when it is a whole number (``2``, ``2.0``, ``" 2 "``)."""
    if isinstance(raw, str):
        text = raw.strip()
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        number = float(raw)
    if not math.isfinite(number) or number != int(number):
        return None
    return int(number)


def is_blank(raw: object) -> bool:
    """``None``, an empty or all-space string, or a float NaN (a blank spreadsheet cell)."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip() == ""
    return isinstance(raw, float) and math.isnan(raw)


def code_answer(item: str, raw: RawAnswer) -> int | float | None:
    """The scale code of one answer to ``item``; ``None`` for a blank answer.

    Text is matched to the scale's labels case-insensitively, ignoring surrounding
    spaces; a number (or numeric text) is accepted when it is one of the scale's codes,
    or a whole number within ``min``..``max`` for a numeric scale.

    Raises ``InvalidAnswer`` (with ``item``, ``value``, ``expected``) for anything else,
    and ``UnknownItem`` for a column ``survey.yaml`` does not define.
    """
    _, scale = _scale_of(item)
    if is_blank(raw):
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise InvalidAnswer(item, raw, _expected(scale))
    if isinstance(scale, _LabelScale) and isinstance(raw, str):
        wanted = raw.strip().casefold()
        for label, code in scale.root.items():
            if label.strip().casefold() == wanted:
                return code
    number = _as_whole_number(raw)
    if number is not None:
        if isinstance(scale, _NumericScale):
            if scale.numeric.min <= number <= scale.numeric.max:
                return number
        elif number in scale.root.values():
            return number
    raise InvalidAnswer(item, raw, _expected(scale))


@dataclass(frozen=True)
class CodedRow:
    """A survey row's coded answers (every item column) and the answers that failed."""

    values: dict[str, int | float | None]
    errors: list[InvalidAnswer]


def code_row(raw: Mapping[str, RawAnswer]) -> CodedRow:
    """Code every item column of one exported row; invalid answers become ``None`` and
    are listed in ``errors`` (columns absent from ``raw`` are blank)."""
    values: dict[str, int | float | None] = {}
    errors: list[InvalidAnswer] = []
    for column in item_columns():
        try:
            values[column] = code_answer(column, raw.get(column))
        except InvalidAnswer as exc:
            values[column] = None
            errors.append(exc)
    return CodedRow(values, errors)


def numbered_answers(coded: Mapping[str, Number | None], group: str) -> dict[int, int | None]:
    """Item number -> code for a numbered item group (``sdq`` or ``wemwbs``).

    ``numbered_answers({"sdq_1": 2, ...}, "sdq") == {1: 2, ..., 25: None}``.
    """
    spec = _config().items.get(group)
    if spec is None or spec.prefix is None or spec.count is None:
        raise UnknownItem(f"{group!r} is not a numbered item group of the survey")
    out: dict[int, int | None] = {}
    for i in range(1, spec.count + 1):
        value = coded.get(f"{spec.prefix}{i}")
        out[i] = None if value is None else int(value)
    return out


# ------------------------------------------------------------------------ scoring


@dataclass(frozen=True)
class ConstructScore:
    """A construct's score for one response, and what produced its risk flag.

    ``score`` and ``at_risk`` are ``None`` (unknown) when too few items were answered
    (fewer than ``min_answered``), or for a ratio whose denominator is 0.
    """

    construct: str
    score: float | None
    at_risk: bool | None
    n_answered: int
    n_items: int
    min_answered: int
    threshold: float
    op: str
    note: str | None = None


def score_construct(name: str, coded: Mapping[str, Number | None]) -> ConstructScore:
    """Score construct ``name`` of ``survey.yaml`` from coded answers (item -> code/None).

    Scoring types: ``sum`` / ``mean`` of the answered items; ``any`` = 1 when an
    answered item's code is above 0, else 0; ``value`` = the single item's code;
    ``ratio`` = first item / second item. The score is unknown when fewer than
    ``min_answered`` items (default: all) are answered; for ``any`` a positive answer
    is enough on its own, since the missing items cannot undo it.
    """
    cfg = _config()
    if name not in cfg.constructs:
        raise KeyError(f"{name!r} is not a construct of config/{CONFIG_FILE}")
    c = cfg.constructs[name]
    answered = [float(coded[i]) for i in c.items if coded.get(i) is not None]  # type: ignore[arg-type]
    n = len(answered)
    score: float | None = None
    note: str | None = None

    if c.scoring == "any" and any(v > 0 for v in answered):
        score = 1
    elif n < c.needed:
        note = f"{n} of {len(c.items)} items answered; {c.needed} needed"
    elif c.scoring == "sum":
        score = sum(answered)
    elif c.scoring == "mean":
        score = sum(answered) / n
    elif c.scoring == "any":
        score = 0
    elif c.scoring == "value":
        score = answered[0]
    elif c.scoring == "ratio":
        numerator, denominator = (float(coded[i]) for i in c.items)  # type: ignore[arg-type]
        if denominator == 0:
            note = f"{c.items[1]} is 0: the ratio is undefined"
        else:
            score = numerator / denominator

    at_risk = None if score is None else OPS[c.at_risk.op](score, c.at_risk.threshold)
    if isinstance(score, float) and score.is_integer() and c.scoring != "mean":
        score = int(score)
    return ConstructScore(
        construct=name,
        score=score,
        at_risk=at_risk,
        n_answered=n,
        n_items=len(c.items),
        min_answered=c.needed,
        threshold=c.at_risk.threshold,
        op=c.at_risk.op,
        note=note,
    )


def score_constructs(coded: Mapping[str, Number | None]) -> dict[str, ConstructScore]:
    """Every construct of ``survey.yaml`` scored for one response."""
    return {name: score_construct(name, coded) for name in construct_names()}
