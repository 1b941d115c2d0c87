"""The cost columns a run's own leaderboard rows carry: activated candidate parameters (from the run's
choices) and whether the measured figures of an earlier run (FLOPs, latency, router parameters; see
:mod:`harness.cost`) still apply to it. Lives in core because the runner writes these columns with
every run; measuring is the cost layer's job. Imports: core only."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, read_json
from harness.core.pools import MODEL_PARAMS_B

# --------------------------------------------------------------------------------------------------
# Activated candidate parameters


def model_size_b(model: str) -> float:
    if model not in MODEL_PARAMS_B:
        raise HarnessError(f"model '{model}': parameter count unknown (add it to MODEL_PARAMS_B in harness/core/pools.py)")
    return MODEL_PARAMS_B[model]


def activated_params(run: dict, *, expected: bool = False) -> dict[str, Any]:
    """Billions of parameters of the chosen candidate, averaged over items: per benchmark, the mean of
    the per-benchmark means, and pooled over all items. ``expected`` (the random router): the mean of
    the pool's sizes, the expectation of a uniform choice, not one seeded draw."""
    sizes = np.array([model_size_b(m) for m in run["models"]])
    per_bench, totals, count = {}, 0.0, 0
    for name, bench in run["benchmarks"].items():
        choice = np.asarray(bench["choice"], dtype=np.int64)
        chosen = np.full(len(bench["ids"]), sizes.mean()) if expected else sizes[choice]
        per_bench[name] = float(chosen.mean()) if len(chosen) else math.nan
        totals, count = totals + float(chosen.sum()), count + len(chosen)
    return {"per_benchmark": per_bench, "mean_of_means": float(np.mean(list(per_bench.values()))),
            "pooled": totals / count if count else math.nan, "rule": "expected (uniform)" if expected else "choices"}


def cost_path(run_file: str) -> Path:
    return config.results_dir() / "cost" / Path(run_file).name


def stored_cost(run_file: str) -> Path | None:
    """The run's cost file, else another seed's of its group (they share the architecture)."""
    own = cost_path(run_file)
    if own.exists():
        return own
    stem, sep, _ = own.name.rpartition("__seed")
    return next(iter(sorted(own.parent.glob(f"{stem}__seed*.json"))), None) if sep else None


MEASURED_COLUMNS = ("gflops", "gflops_dense", "latency_ms", "latency_p95_ms", "router_params")


def columns_for_new_run(run: dict, run_file: str, earlier_config: dict | None, *,
                        expected: bool = False) -> dict[str, dict[str, Any]]:
    """Per benchmark, the cost columns a fresh run's leaderboard rows set themselves.

    Activated parameters follow the new run's choices. FLOPs, latency and router parameters depend
    on the router's settings, not on its trained weights: the figures already on the leaderboard
    (measured for the run its rows named, whose router config is ``earlier_config``) are kept when
    the new run has the same config, seed aside; otherwise they are cleared, and the run's cost file removed,
    until ``routing-harness cost`` measures again. A kept cost file gets the new activated figures.
    """
    try:
        activated = activated_params(run, expected=expected)
        out = {b: {"activated_params_b": round(v, 3)} for b, v in activated["per_benchmark"].items()}
    except HarnessError:  # a model of unknown size: no figure, rather than the last run's
        activated, out = None, {b: {"activated_params_b": None} for b in run["benchmarks"]}
    path = cost_path(run_file)
    if earlier_config is not None and _unseeded(earlier_config) != _unseeded(run.get("router_config")):
        for columns in out.values():
            columns.update(dict.fromkeys(MEASURED_COLUMNS))
        path.unlink(missing_ok=True)
    elif path.exists() and activated is not None:
        atomic_write_json(path, {**read_json(path), "activated_params_b": activated})
    return out


def _unseeded(router_config: dict | None) -> dict:
    """A router config without its seed: seeds change weights, not FLOPs or latency."""
    return {k: v for k, v in (router_config or {}).items() if k != "seed"}

