"""A price split between commissioners in integer pence, by the largest-remainder rule
(rules.md §15): each commissioner first gets the whole pence of price x share; the pence
left over (fewer than the number of commissioners) go one each to the largest
remainders; equal remainders are broken by the commissioners' order in the contract.
The parts always add up exactly to the price, and each is within 1p of price x share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction


def split_pence(
    price_pence: int, shares: Mapping[str, Fraction], order: Sequence[str]
) -> dict[str, int]:
    """``{commissioner: pence}`` for every commissioner with a share above 0, in
    ``order``. ``shares`` must sum to exactly 1 (the rate card guarantees it)."""
    if isinstance(price_pence, bool) or not isinstance(price_pence, int):
        raise TypeError("price_pence must be an int (pence)")
    if price_pence < 0:
        raise ValueError("price_pence must be >= 0")
    shares = {c: Fraction(s) for c, s in shares.items()}
    if sum(shares.values(), Fraction(0)) != 1:
        raise ValueError(f"shares must sum to exactly 1: {shares}")
    unknown = set(shares) - set(order)
    if unknown:
        raise ValueError(f"no place in the commissioner order for {sorted(unknown)}")
    names = [c for c in order if shares.get(c, 0) > 0]
    exact = {c: price_pence * shares[c] for c in names}
    parts = {c: exact[c].numerator // exact[c].denominator for c in names}
    left = price_pence - sum(parts.values())
    # Largest remainder first; ties by contract order (the index in ``names``).
    by_remainder = sorted(names, key=lambda c: (-(exact[c] - parts[c]), names.index(c)))
    for c in by_remainder[:left]:
        parts[c] += 1
    return parts
