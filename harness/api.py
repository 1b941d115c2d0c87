"""The Python API: evaluate a router from a script or a notebook.

    >>> from harness.api import EvalConfig, evaluate
    >>> results = evaluate(EvalConfig(router="oracle", benchmarks=["gsm8k"]))
    >>> round(results[0].normalized, 1)
    100.0

:func:`evaluate` runs one router (:mod:`harness.core.runner`) and, when it writes, re-renders
``results/leaderboard.md`` (:mod:`harness.report.board`). Top layer: may import everything below.
"""
from __future__ import annotations

from harness.core.runner import BenchmarkResult, EvalConfig
from harness.core import runner

__all__ = ["BenchmarkResult", "EvalConfig", "evaluate"]


def evaluate(cfg: EvalConfig, *, write: bool = True) -> list[BenchmarkResult]:
    """Route, score and normalize every benchmark of ``cfg``; with ``write``, store the run file and
    the leaderboard rows and re-render leaderboard.md."""
    results = runner.evaluate(cfg, write=write)
    if write:
        from harness.report import board

        board.render()
    return results
