"""Small deterministic helpers shared by the generator modules.

Every random draw in the generator comes from a ``random.Random`` made by
:func:`sub_rng`: one stream per (seed, component, key), so that adding a draw in
one component never shifts the numbers of another, and the same seed and scale
always give the same bytes.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta


def sub_rng(seed: int, *parts: object) -> random.Random:
    """A private random stream for one component (string seeds hash with SHA-512)."""
    return random.Random(f"{seed}|" + "|".join(str(p) for p in parts))


def clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def dmy(d: date) -> str:
    """``dd/mm/yyyy``."""
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def iso(d: date | None) -> str:
    return "" if d is None else d.isoformat()


def dmy_hm(t: datetime) -> str:
    """``dd/mm/yyyy HH:MM``."""
    return f"{t.day:02d}/{t.month:02d}/{t.year:04d} {t.hour:02d}:{t.minute:02d}"


def iso_hms(t: datetime) -> str:
    """``yyyy-mm-dd HH:MM:SS``."""
    return t.strftime("%Y-%m-%d %H:%M:%S")


def add_days(d: date, n: int) -> date:
    return d + timedelta(days=n)


def age_on(dob: date, on: date) -> int:
    """Completed years of age on a date."""
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def weighted_choice(rng: random.Random, items: list, weights: list[float]):
    return rng.choices(items, weights=weights, k=1)[0]


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method (small lambdas only; the generator never needs large ones)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k, p = 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def case_variant(rng: random.Random, text: str) -> str:
    """The same answer text in one of four letter cases (survey exports vary)."""
    r = rng.random()
    if r < 0.4:
        return text
    if r < 0.6:
        return text.lower()
    if r < 0.8:
        return text.upper()
    return text.title()
