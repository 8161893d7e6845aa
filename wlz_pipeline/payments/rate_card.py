"""``config/rate_card.yaml`` as validated models: versioned rate cards with effective
dates, commissioners' shares, the contract cap, the engagement test and the measure of
each rate-card outcome (spec rules.md §14-15).

Money is exact: prices are parsed from text with ``Decimal`` into integer pence (a
fraction of a penny is an error) and shares into ``Fraction`` (a share set that does not
sum to exactly 1 is an error). Nothing here uses floats.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    model_validator,
)

CONFIG_FILE = "rate_card.yaml"

#: contract.md: payment_type values, in ledger order (the order of the cap and of claims).
PAYMENT_TYPES: tuple[str, ...] = ("sign_up", "engagement_y1", "engagement_y2", "outcome")
#: contract.md: the seven rate-card outcomes (a public API: names never change).
OUTCOMES: tuple[str, ...] = (
    "reading_english",
    "maths",
    "writing_engagement",
    "emotional_wellbeing",
    "relationships",
    "school_attendance",
    "parental_engagement",
)
_COHORT = re.compile(r"^(\d{4})/(\d{2})$")


def parse_pence(value: Any) -> int:
    """``"1000.01"`` (pounds, as text or a number) -> ``100001`` pence. A fraction of a
    penny, a negative amount or text that is not a number is an error."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount of money: {value!r}")
    text = str(value).strip().replace(",", "").removeprefix("£")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount of money: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"an amount must be a positive number of pounds: {value!r}")
    pence = amount * 100
    if pence != pence.to_integral_value():
        raise ValueError(f"{value!r} has a fraction of a penny")
    return int(pence)


def parse_share(value: Any) -> Fraction:
    """``"0.25"`` or ``"1/3"`` -> an exact ``Fraction`` between 0 and 1."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a share: {value!r}")
    if isinstance(value, Fraction):
        share = value
    else:
        try:
            share = Fraction(str(value).strip())
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"not a share (write 0.25 or 1/3): {value!r}") from exc
    if not 0 <= share <= 1:
        raise ValueError(f"a share must be between 0 and 1: {value!r}")
    return share


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not d.is_finite() or d < 0:
        raise ValueError(f"must be a number >= 0: {value!r}")
    return d


def share_text(share: Fraction) -> str:
    """``Fraction(1, 4)`` -> ``"0.25"``; a share with no exact decimal stays ``"1/3"``."""
    share = Fraction(share)
    den = share.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return f"{share.numerator}/{share.denominator}"
    text = f"{(Decimal(share.numerator) / Decimal(share.denominator)).normalize():f}"
    return text


def gbp(pence: int) -> Decimal:
    """Pence as pounds, exactly: ``100001`` -> ``Decimal("1000.01")``."""
    return Decimal(pence).scaleb(-2)


def pence_text(pence: int) -> str:
    """``100001`` pence -> ``"1000.01"``: pounds as the configuration writes them, what
    ``parse_pence`` reads."""
    return f"{gbp(pence):f}"


#: the serialisation context under which amounts dump as integer pence, as they did
#: before they dumped as pounds: ``digest`` uses it, so a configuration's rule_version
#: (on every ledger line and claim) is what it always was
PENCE_AS_INTEGERS = {"pence_as_integers": True}


def _dump_pence(pence: int, info: SerializationInfo) -> int | str:
    """An amount as its configuration writes it (pounds), so that a dump validates back to
    the same configuration; as integer pence under ``PENCE_AS_INTEGERS``."""
    if info.context == PENCE_AS_INTEGERS:
        return pence
    return pence_text(pence)


Pence = Annotated[int, BeforeValidator(parse_pence), PlainSerializer(_dump_pence)]
Share = Annotated[Fraction, BeforeValidator(parse_share), PlainSerializer(str, return_type=str)]
Number = Annotated[Decimal, BeforeValidator(parse_decimal), PlainSerializer(str, return_type=str)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def cohort_start(cohort: str) -> date:
    """A cohort starts on 1 September of its first academic year (rules.md §1)."""
    m = _COHORT.match(str(cohort).strip())
    if not m or (int(m.group(1)) + 1) % 100 != int(m.group(2)):
        raise ValueError(f"not an academic year like 2017/18: {cohort!r}")
    return date(int(m.group(1)), 9, 1)


class Contract(_Model):
    name: str
    cap: Pence
    commissioners: list[str] = Field(min_length=1)
    outcomes: list[str]
    max_outcome_payments: int = Field(ge=0)
    phases: list[str] = Field(min_length=1)
    anchor_phases: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Contract:
        bad = set(self.anchor_phases.values()) - set(self.phases)
        if bad:
            raise ValueError(f"contract.anchor_phases: unknown phase(s) {sorted(bad)}")
        for what, items in (
            ("commissioners", self.commissioners),
            ("outcomes", self.outcomes),
            ("phases", self.phases),
        ):
            if len(set(items)) != len(items):
                raise ValueError(f"contract.{what}: a name is listed twice")
        if set(self.outcomes) != set(OUTCOMES):
            raise ValueError(
                f"contract.outcomes must be exactly the seven rate-card outcomes of "
                f"contract.md {list(OUTCOMES)} (in rate-card order)"
            )
        return self

    @property
    def cap_pence(self) -> int:
        return self.cap


class Engagement(_Model):
    interaction_kinds: list[str] = Field(min_length=1)
    with_whom: list[str] = Field(min_length=1)
    min_interactions: int = Field(ge=0)
    min_partner_attendance_rate: Share
    min_partner_hours: Number


class Completion(_Model):
    completed_exit_reasons: list[str] = Field(default_factory=list)


class OutcomeMeasure(_Model):
    factor: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    better: Literal["higher", "lower"]
    min_change: Number
    unit: str
    #: Attainment only: the scale ``min_change`` is on (standardised scores), and the
    #: minimum change on other scales (KS2 scaled scores, GCSE grades). A change is only
    #: computed between two results on the same scale.
    scale: str | None = None
    min_change_by_scale: dict[str, Number] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> OutcomeMeasure:
        if self.min_change <= 0 or any(v <= 0 for v in self.min_change_by_scale.values()):
            raise ValueError("min_change must be above 0")
        return self

    def min_change_for(self, scale: str | None) -> Decimal | None:
        """The minimum change on ``scale``; None when changes on that scale are not
        compared. A measure that names no scale applies ``min_change`` on any one scale."""
        if scale is None or self.scale is None or scale == self.scale:
            return self.min_change
        return self.min_change_by_scale.get(scale)


class PhasePrices(_Model):
    sign_up: Pence
    engagement_y1: Pence
    engagement_y2: Pence
    outcomes: dict[str, Pence]


class RateCard(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    effective_from: date
    prices: dict[str, PhasePrices]
    shares: dict[str, dict[str, Share]]

    def price(self, phase: str | None, payment_type: str, outcome: str | None = None) -> int | None:
        """The price in pence, or None when the card does not price this phase."""
        p = self.prices.get(phase or "")
        if p is None:
            return None
        if payment_type == "outcome":
            return p.outcomes.get(outcome or "")
        return getattr(p, payment_type)

    def share_of(self, payment_type: str) -> dict[str, Fraction]:
        return dict(self.shares[payment_type])


class PaymentConfig(_Model):
    version: int = Field(ge=1)
    contract: Contract
    engagement: Engagement
    completion: Completion = Completion()
    outcome_measures: dict[str, dict[str, OutcomeMeasure]]
    rate_cards: list[RateCard] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> PaymentConfig:
        c = self.contract
        unknown = set(self.outcome_measures) - set(c.outcomes)
        if unknown:
            raise ValueError(f"outcome_measures: unknown outcome(s) {sorted(unknown)}")
        for outcome, by_phase in self.outcome_measures.items():
            bad = set(by_phase) - set(c.phases)
            if bad:
                raise ValueError(f"outcome_measures.{outcome}: unknown phase(s) {sorted(bad)}")
        ids = [card.id for card in self.rate_cards]
        if len(set(ids)) != len(ids):
            raise ValueError("rate_cards: two cards share an id")
        dates = [card.effective_from for card in self.rate_cards]
        if len(set(dates)) != len(dates):
            raise ValueError("rate_cards: two cards share an effective_from date")
        for card in self.rate_cards:
            where = f"rate_cards[{card.id}]"
            bad = set(card.prices) - set(c.phases)
            if bad:
                raise ValueError(f"{where}.prices: unknown phase(s) {sorted(bad)}")
            for phase, p in card.prices.items():
                if set(p.outcomes) != set(c.outcomes):
                    missing = sorted(set(c.outcomes) - set(p.outcomes))
                    extra = sorted(set(p.outcomes) - set(c.outcomes))
                    raise ValueError(
                        f"{where}.prices.{phase}.outcomes: price every rate-card outcome "
                        f"(missing {missing}, unknown {extra})"
                    )
            if set(card.shares) != set(PAYMENT_TYPES):
                raise ValueError(
                    f"{where}.shares: give the shares of each payment {list(PAYMENT_TYPES)}"
                )
            for payment_type, shares in card.shares.items():
                bad = set(shares) - set(c.commissioners)
                if bad:
                    raise ValueError(
                        f"{where}.shares.{payment_type}: unknown commissioner(s) {sorted(bad)}"
                    )
                total = sum(shares.values(), Fraction(0))
                if total != 1:
                    raise ValueError(
                        f"{where}.shares.{payment_type}: shares sum to {total} "
                        f"(= {float(total):.6f}), not exactly 1"
                    )
        return self

    # -- lookups ------------------------------------------------------------------------

    def card_for_cohort(self, cohort: str) -> RateCard | None:
        """The card in force for a cohort: the newest card effective on or before the
        cohort's start (1 September of its first year). None when none is."""
        start = cohort_start(cohort)
        cards = [c for c in self.rate_cards if c.effective_from <= start]
        return max(cards, key=lambda c: c.effective_from) if cards else None

    def measure(self, outcome: str, phase: str | None) -> OutcomeMeasure | None:
        return self.outcome_measures.get(outcome, {}).get(phase or "")

    def outcome_rank(self, outcome: str) -> int:
        return self.contract.outcomes.index(outcome)

    def commissioner_rank(self, commissioner: str) -> int:
        return self.contract.commissioners.index(commissioner)

    @cached_property
    def digest(self) -> str:
        """A hash of the whole configuration (any edit changes it). Computed once per
        object: the model is frozen, and ``model_copy`` (which can change fields without
        validation) drops it from the copy. Amounts count as integer pence here
        (``PENCE_AS_INTEGERS``), as before they dumped as pounds."""
        text = json.dumps(
            self.model_dump(mode="json", context=PENCE_AS_INTEGERS), sort_keys=True, default=str
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    @cached_property
    def rule_version(self) -> str:
        """``<version>+<hash>``: recorded in every line's evidence (once per object, like
        ``digest``; the ledger asks for it tens of thousands of times)."""
        return f"{self.version}+{self.digest}"

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy without the cached ``digest`` and ``rule_version`` (``update`` may have
        changed what they are computed from)."""
        copied = super().model_copy(update=update, deep=deep)
        for name in _CACHED:
            copied.__dict__.pop(name, None)
        return copied


#: ``PaymentConfig``'s cached properties (kept in the instance ``__dict__``).
_CACHED = ("digest", "rule_version")


def load() -> PaymentConfig:
    """``config/rate_card.yaml`` (``WLZ_CONFIG_DIR`` aware), validated and cached."""
    from wlz_pipeline.scoring._config import load_settings

    return load_settings(CONFIG_FILE, PaymentConfig)


def from_dict(raw: dict) -> PaymentConfig:
    """Validate a configuration given as a dict (tests, tools)."""
    return PaymentConfig.model_validate(raw)
