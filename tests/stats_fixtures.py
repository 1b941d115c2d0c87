"""Run files for the statistics and site tests, built once per test session on the real cache:
the reference routers of paper5 and a small learned router evaluated with three seeds."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from routers import ROUTERS, register_router
from routers.base import Router

NOISY = "test_bench_best_noisy"
SEEDS = (0, 1, 2)
REFERENCES = ("oracle", "random", "fixed:Yi-1.5-34B-Chat", "fixed:Qwen2.5-Coder-7B-Instruct")


class BenchBestNoisy(Router):
    """Learns the best candidate per benchmark on the training folds; routes there, except a seeded
    30% of items that go to a random candidate (so seeds differ, as trained routers' do)."""

    learns = True
    uses_benchmark_label = True  # a task detector: told each test item's benchmark, as task_best is

    def fit(self, train, valid=None) -> None:
        benches = np.asarray(train.benchmarks)
        self.best = {b: int(np.argmax(train.scores[benches == b].mean(axis=0))) for b in set(benches)}

    def predict(self, items) -> np.ndarray:
        rng = np.random.default_rng([self.ctx.seed, len(items)])
        scores = np.zeros((len(items), len(self.models)))
        for i, bench in enumerate(items.benchmarks):
            pick = self.best.get(bench, 0) if rng.random() > 0.3 else int(rng.integers(len(self.models)))
            scores[i, pick] = 1.0
        return scores


if NOISY not in ROUTERS:
    register_router(NOISY)(BenchBestNoisy)

_built: dict[str, Path] = {}


def build_runs(root: Path) -> Path:
    """Evaluate the routers into ``root/results`` once per session; returns that results directory."""
    if "results" in _built:
        return _built["results"]
    from harness.api import EvalConfig, evaluate

    results = root / "results"
    previous = os.environ.get("HARNESS_RESULTS_DIR")
    os.environ["HARNESS_RESULTS_DIR"] = str(results)
    try:
        for router in REFERENCES:
            evaluate(EvalConfig(router=router))
        for seed in SEEDS:
            evaluate(EvalConfig(router=NOISY, protocol="cv", profile="cpu", seed=seed, folds=3))
    finally:
        if previous is None:
            os.environ.pop("HARNESS_RESULTS_DIR", None)
        else:
            os.environ["HARNESS_RESULTS_DIR"] = previous
    _built["results"] = results
    return results
