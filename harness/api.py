"""The Python API: evaluate a router from a script or a notebook, without touching ``results/``.

    from harness.api import evaluate_router
    from routers.base import Router

    class CodeFirst(Router):                      # route code to the coder model, the rest to Yi
        def predict(self, items):
            code = [("def " in p or "python" in p.lower()) for p in items.prompts]
            return np.array([[0, 1] if c else [1, 0] for c in code], dtype=float)

    ev = evaluate_router(CodeFirst, pool="Yi-1.5-34B-Chat,Qwen2.5-Coder-7B-Instruct", benchmarks="humaneval,gsm8k")
    ev.table        # per benchmark: mu_o, mu_n, their 95% intervals, random, oracle, items
    ev.choices      # per item: benchmark, item id, chosen candidate
    ev.average      # (avg mu_n, low, high)

A router may be given as a registered name, a :class:`routers.base.Router` subclass (registered
under its class name; defining it again in a notebook replaces it, with a warning) or an
:class:`EvalConfig`. ``write=True`` publishes like ``make eval`` (into ``config.results_dir()``).

:func:`evaluate` is the lower-level call the CLI uses. Top layer: may import everything below.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from harness.core import runner
from harness.core.runner import BenchmarkResult, EvalConfig

__all__ = ["BenchmarkResult", "EvalConfig", "Evaluation", "evaluate", "evaluate_router"]


def evaluate(cfg: EvalConfig, *, write: bool = True) -> list[BenchmarkResult]:
    """Route, score and normalize every benchmark of ``cfg``; with ``write``, store the run file and
    the leaderboard rows and re-render leaderboard.md."""
    results, run = runner.evaluate_run(cfg)
    if write:
        from harness.report import board

        runner.publish(run, results)
        board.render()
    return results


@dataclass
class Evaluation:
    """What :func:`evaluate_router` returns."""

    results: list[BenchmarkResult]
    run: dict[str, Any]  # the run record, as a run file holds it
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)  # bench -> mu_o/mu_n CI
    average: tuple[float, float, float] = (float("nan"),) * 3  # avg mu_n and its 95% interval

    @property
    def table(self):
        import pandas as pd

        rows = []
        for r in self.results:
            ci = self.intervals.get(r.benchmark, {})
            rows.append({"benchmark": r.benchmark, "metric": r.metric, "mu_o": r.score,
                         "mu_o_low": ci.get("mu_o", (np.nan,) * 2)[0], "mu_o_high": ci.get("mu_o", (np.nan,) * 2)[1],
                         "mu_n": r.normalized, "mu_n_low": ci.get("mu_n", (np.nan,) * 2)[0],
                         "mu_n_high": ci.get("mu_n", (np.nan,) * 2)[1], "random": r.random, "oracle": r.oracle,
                         "n_items": r.n_items, "n_dropped": r.n_dropped})
        return pd.DataFrame(rows).set_index("benchmark")

    @property
    def choices(self):
        import pandas as pd

        models = self.run["models"]
        frames = [pd.DataFrame({"benchmark": name, "item_id": [str(i) for i in bench["ids"]],
                                "model": [models[c] for c in bench["choice"]]})
                  for name, bench in self.run["benchmarks"].items()]
        return pd.concat(frames, ignore_index=True)


def _router_name(router: Any) -> str:
    from routers import load_all, register_router
    from routers.base import Router

    if isinstance(router, str):
        return router
    if isinstance(router, type) and issubclass(router, Router):
        load_all()
        name = getattr(router, "registered_name", None) or router.__name__
        register_router(name)(router)  # same definition again: replaced with a warning
        router.registered_name = name
        return name
    raise TypeError(f"router: expected a registered name or a Router subclass, got {router!r}")


def evaluate_router(router: Any, *, pool: str = "paper5", benchmarks: str | list[str] = "all",
                    protocol: str = "cv", profile: str = "cpu", seed: int = 0, folds: int = 5,
                    options: dict[str, Any] | None = None, write: bool = False,
                    resamples: int = 1000, conventions: str = "paper") -> Evaluation:
    """Evaluate ``router`` and bootstrap its intervals; writes nothing unless ``write``."""
    cfg = router if isinstance(router, EvalConfig) else EvalConfig(
        router=_router_name(router), pool=pool, benchmarks=runner.parse_benchmarks(benchmarks),
        protocol=protocol, profile=profile, seed=seed, folds=folds, options=dict(options or {}),
        conventions=conventions)
    if isinstance(router, EvalConfig):
        cfg = replace(cfg, benchmarks=runner.parse_benchmarks(cfg.benchmarks))
    results, run = runner.evaluate_run(cfg)
    if write:
        from harness.report import board

        runner.publish(run, results)
        board.render()
    return _with_intervals(Evaluation(results=results, run=run), resamples)


def _with_intervals(ev: Evaluation, resamples: int) -> Evaluation:
    from harness.report.bootstrap import Settings, group_stats, interval
    from harness.report.conventions import RulesBootstrap  # the run's own scoring rules
    from harness.report.runs import run_from_dict

    boot = RulesBootstrap(Settings(resamples=resamples), ev.run.get("conventions", "paper"))
    stats = group_stats([run_from_dict(ev.run)], boot)
    ev.intervals = {b: {"mu_o": interval(stats.draws_mu_o[b]), "mu_n": interval(stats.draws_mu_n[b])}
                    for b in stats.scored()}
    if stats.scored():
        ev.average = (stats.avg_point(), *interval(stats.avg_draws()))
    return ev
