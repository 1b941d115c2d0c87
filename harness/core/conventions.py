"""Scoring conventions: ``paper`` (the authors' released evaluation; the default, for reproduction)
or ``official`` (the benchmarks' own tools: alpaca_eval, arena-hard-auto v0.1's ``show_result.py``,
FastChat's ``llm_judge/show_result.py``). They differ on two benchmarks:

- Arena-Hard: the authors count a judge failure (null verdict) as a strong win for the baseline;
  arena-hard-auto gives such a game weight 0 (dropped).
- MT-Bench: the authors keep a failed judgment's score -1 in the mean; FastChat drops rows with
  score -1 before averaging.

AlpacaEval already goes through alpaca_eval's own LC function, and accuracy / pass@1 have no judge,
so both conventions agree there. A benchmark whose rules differ has an ``official_rules`` attribute
(one sentence), takes ``conventions=`` in ``score`` and gives, with ``official_gt``, the per-item
ground truth the official oracle picks by (failed judgments left out of the item's score).

Items: a routed mix exists only for the items every candidate answered, so both conventions score
the pool's items (paper5 Arena-Hard: 499); arena-hard-auto scores a model alone on its own file
(Yi-1.5-34B-Chat: 500 items), which the conventions report shows beside.
Imports: core only (and benchmarks).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from benchmarks.base import Benchmark, BenchmarkData
from harness.core.errors import HarnessError

CONVENTIONS = ("paper", "official")
DEFAULT = "paper"
ENV = "HARNESS_CONVENTIONS"


def check(name: str | None) -> str:
    """A known convention name (None or empty: the default, or ``$HARNESS_CONVENTIONS``)."""
    value = (name or os.environ.get(ENV, "") or DEFAULT).strip()
    if value not in CONVENTIONS:
        raise HarnessError(f"conventions '{value}': expected one of {', '.join(CONVENTIONS)}")
    return value


def differs(adapter: Benchmark) -> bool:
    """Whether the benchmark's official rules differ from the paper's."""
    return getattr(adapter, "official_rules", None) is not None


def ground_truth(adapter: Benchmark, data: BenchmarkData, conventions: str) -> np.ndarray:
    """Per-item, per-candidate ground truth under ``conventions`` (what the oracle maximises)."""
    if conventions == "paper" or not differs(adapter):
        return data.gt
    return adapter.official_gt(data)


def oracle_choice(adapter: Benchmark, data: BenchmarkData, conventions: str) -> np.ndarray:
    """The oracle's choice: per item the best ground truth; ties as ``BenchmarkData.oracle_choice``
    (the first in pool order)."""
    if conventions == "paper" or not differs(adapter):
        return data.oracle_choice()
    return np.argmax(adapter.official_gt(data), axis=1)


def options(adapter: Benchmark, conventions: str) -> dict[str, Any]:
    """Keyword arguments that make ``adapter.score`` follow ``conventions`` (none for the paper's
    rules, so paper scores keep their cache keys)."""
    return {"conventions": conventions} if conventions != "paper" and differs(adapter) else {}


def score(adapter: Benchmark, data: BenchmarkData, choice: np.ndarray, conventions: str,
          **kwargs: Any) -> dict[str, Any]:
    """The native score of ``choice`` under ``conventions``, through the on-disk score cache."""
    from harness.core import scores as score_cache

    return score_cache.score(adapter, data, choice, **options(adapter, conventions), **kwargs)
