"""The strong/weak setting of RouteLLM for :mod:`harness.report.curves`: a two-candidate preset of a
pool (its cheapest candidate and the best of the others) and the metrics of routing between them by
the router's score margin, APGR, CPT(50%) and CPT(80%), with paired bootstrap intervals.

A router trained on the whole pool is used as is: its scores for the two candidates, items sent to
the strong one in order of the margin score(strong) - score(weak). Every routing is scored on the
pool's items (the chosen candidates' values do not depend on the others). Imports: core and report.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks import get_benchmark
from harness.core import conventions, store
from harness.core.errors import HarnessError
from harness.report.bootstrap import Settings
from harness.report.conventions import RulesBootstrap
from harness.report.curves import SHARES, apgr, build_curves, ci_of, cpt, pgr, run_scores

TARGETS = {"cpt50": 0.5, "cpt80": 0.8}


def strong_weak_pair(models: list[str], costs: dict[str, np.ndarray],
                     benches: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(strong, weak): weak = the cheapest candidate by mean cost per item over the benchmarks (the
    average curve's cost; a total would be MATH's 5000 items), strong = the best of the others by average
    mu_n alone (the pool's best when that is not the cheapest)."""
    cost = [np.mean([float(c[:, j].mean()) for c in costs.values()]) for j in range(len(models))]
    weak = int(np.argmin(cost))
    quality = [np.mean([b["single"][j]["mu_n"] for b in benches.values()]) for j in range(len(models))]
    strong = max((j for j in range(len(models)) if j != weak), key=lambda j: quality[j])
    return models[strong], models[weak]


def split_choice(margin: np.ndarray, share: float, strong: int, weak: int) -> np.ndarray:
    """The top ``share`` of items by margin to the strong candidate (ties: item order), others weak."""
    k = int(round(share * len(margin)))
    choice = np.full(len(margin), weak, dtype=np.int64)
    choice[np.argsort(-margin, kind="stable")[:k]] = strong
    return choice


def pair_metrics(run: dict[str, Any], scores: dict[str, np.ndarray] | None, strong: str, weak: str,
                 rules: str, settings: Settings = Settings()) -> dict[str, Any]:
    models = run["models"]
    for name in (strong, weak):
        if name not in models:
            raise HarnessError(f"strong/weak pair: model '{name}' is not in pool {run['pool']} ({', '.join(models)})")
    if strong == weak:
        raise HarnessError(f"strong/weak pair: '{strong}' named twice; name two candidates")
    out: dict[str, Any] = {"strong": strong, "weak": weak, "shares": SHARES.tolist(), "benchmarks": {}}
    if scores is None:
        out["note"] = "choices only: no score margin to sweep"
        return out
    s, w = models.index(strong), models.index(weak)
    boot = RulesBootstrap(settings, rules)
    draws: dict[str, dict[str, np.ndarray]] = {}
    for name in run["benchmarks"]:
        adapter, data = get_benchmark(name), store.load(name, models)
        margin = scores[name][:, s] - scores[name][:, w]
        choices = [split_choice(margin, p, s, w) for p in SHARES]
        quality = np.array([conventions.score(adapter, data, c, rules, detail=False)["score"] for c in choices])
        q_s, q_w = quality[-1], quality[0]  # 100% strong, 0% strong
        gaps = pgr(quality, q_s, q_w)
        entry: dict[str, Any] = {"mu_o": quality.tolist(), "strong_mu_o": float(q_s), "weak_mu_o": float(q_w)}
        if q_s <= q_w:
            entry["note"] = "the strong candidate is not better than the weak one here: PGR undefined"
            out["benchmarks"][name] = entry
            continue
        entry.update(pgr=gaps.tolist(), apgr=apgr(SHARES, gaps), **{k: cpt(SHARES, gaps, t) for k, t in TARGETS.items()})
        per_share = [boot.mu_o(name, models, c) for c in choices]
        if all(d is not None for d in per_share):
            d = _metric_draws(np.stack(per_share, axis=1))
            draws[name] = d
            entry.update({f"{k}_ci": ci_of(v) for k, v in d.items()})
        out["benchmarks"][name] = entry
    defined = [n for n, e in out["benchmarks"].items() if "apgr" in e]
    if defined:
        out["average"] = {"benchmarks": defined, **{k: float(np.mean([out["benchmarks"][n][k] for n in defined]))
                                                    for k in ("apgr", *TARGETS)}}
        if all(n in draws for n in defined):
            out["average"].update({f"{k}_ci": ci_of(np.mean([draws[n][k] for n in defined], axis=0))
                                   for k in ("apgr", *TARGETS)})
    return out


def _metric_draws(quality: np.ndarray) -> dict[str, np.ndarray]:
    """APGR and CPTs per resample from mu_o draws of shape (resamples, shares)."""
    gaps = pgr(quality, quality[:, -1:], quality[:, :1])
    out = {"apgr": np.array([apgr(SHARES, g) for g in gaps])}
    out.update({k: np.array([cpt(SHARES, g, t) for g in gaps]) for k, t in TARGETS.items()})
    return out


def build(run: dict[str, Any], costs: dict[str, np.ndarray], rules: str, settings: Settings = Settings(),
          pair: tuple[str, str] | None = None) -> dict[str, Any]:
    """A run's curves (harness.report.curves.build_curves) and its strong/weak metrics (``pair``:
    (strong, weak), default :func:`strong_weak_pair`)."""
    data = build_curves(run, costs, rules)
    strong, weak = pair or strong_weak_pair(run["models"], costs, data["benchmarks"])
    data["strong_weak"] = pair_metrics(run, run_scores(run)[0], strong, weak, rules, settings)
    return data
