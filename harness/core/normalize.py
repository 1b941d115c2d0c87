"""The normalized score mu_n: 0 at the random router, 100 at the oracle of the same pool and items."""
from __future__ import annotations

import math


def normalized(score: float, random: float, oracle: float) -> float:
    span = oracle - random
    if span == 0:
        return math.nan
    return (score - random) / span * 100.0


def average(values: list[float]) -> float:
    finite = [v for v in values if v == v]
    return sum(finite) / len(finite) if finite else math.nan
