"""Cost-quality curves of a router (``routing-harness costcurve``): what it trades for dollars.

- **Willingness-to-pay sweep.** A router that stored its scores is re-routed by
  argmax(score - λ·cost) over a grid of λ (USD per item; the grid: λ = 0, quantiles of the λ at which
  some item switches to a cheaper candidate, and λ = ∞, the cheapest candidate per item). Each λ gives a
  point (mean USD per item, mu_o, mu_n) per benchmark; the average curve pairs the benchmarks' points
  of one λ (mean cost per item over benchmarks, average mu_n). A router whose run file has choices only
  gets one point, and says so.
- **Beside it**: each candidate alone (one point each) and the oracle's cheapest-correct curve (the same
  sweep with the ground truth as scores, ties to the cheaper candidate; its λ grid is per benchmark, as
  the ground truths' units differ, and its average pairs the k-th points).
- **AIQ** (RouterBench): the mean height of the non-decreasing convex hull of a curve's points over the
  cost range of the single candidates, in mu_n.
- **Strong/weak** (RouteLLM): the pool's cheapest candidate (weak) and the best of the others by average
  mu_n (strong). Items go to the strong model when the router's score margin (strong - weak) is in the top
  share p, for p = 0, 10%, ..., 100%; PGR(p) = (mu_o - weak) / (strong - weak); APGR = its trapezoid
  area over p; CPT(x%) = the smallest p whose (interpolated) PGR reaches x. Intervals: the paired item
  bootstrap of :mod:`harness.report.bootstrap` (same resamples for every share and both models).

Costs (USD per item and candidate) come from the caller (:mod:`harness.cost.dollars`); this module
never prices anything. Imports: core and the report modules below it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import get_benchmark
from harness.core import config, conventions, store
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, read_json
from harness.core.normalize import normalized
from harness.report.bootstrap import interval

SHARES = np.linspace(0.0, 1.0, 11)  # RouteLLM: 10 equal bins of strong-model calls
LAMBDAS = 30  # quantiles of the switching points in a router's λ grid
ORACLE_LAMBDAS = 20


def curve_dir() -> Path:
    return config.results_dir() / "costcurve"


# --------------------------------------------------------------------------------------------
# Routing by score - λ·cost
# --------------------------------------------------------------------------------------------

def choose(scores: np.ndarray, costs: np.ndarray, lam: float, cheaper_ties: bool = False) -> np.ndarray:
    """argmax(score - λ·cost) per item. λ = ∞: the cheapest candidate (ties: the higher score);
    ``cheaper_ties``: exact ties go to the cheaper candidate (else: first in pool order, as argmax)."""
    if math.isinf(lam):
        return np.lexsort((-scores, costs), axis=-1)[:, 0]  # primary key last: cost, then higher score
    value = scores - lam * costs if lam else scores
    if not cheaper_ties:
        return np.argmax(value, axis=1)
    best = value == value.max(axis=1, keepdims=True)
    return np.argmin(np.where(best, costs, np.inf), axis=1)


def switch_points(scores: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Every λ at which an item's candidate j gives way to a cheaper, lower-scored k."""
    ds = scores[:, :, None] - scores[:, None, :]  # j minus k
    dc = costs[:, :, None] - costs[:, None, :]
    mask = (ds > 0) & (dc > 0)
    return ds[mask] / dc[mask]


def lambda_grid(points: np.ndarray, n: int) -> list[float]:
    """0, ``n`` quantiles of the switching points, ∞."""
    inner = np.unique(np.quantile(points, np.linspace(0.0, 1.0, n))) if len(points) else np.array([])
    return [0.0, *[float(x) for x in inner if x > 0], math.inf]


# --------------------------------------------------------------------------------------------
# Metrics: AIQ (RouterBench) and PGR / APGR / CPT (RouteLLM)
# --------------------------------------------------------------------------------------------

def nondecreasing_hull(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Vertices (cost, quality) of the upper convex hull of the points, from the cheapest point up to
    the best one (beyond it the curve stays flat: paying more never has to lower quality)."""
    order = np.lexsort((-quality, cost))
    pts = [(float(c), float(q)) for c, q in zip(cost[order], quality[order])]
    top = max(range(len(pts)), key=lambda i: (pts[i][1], -pts[i][0]))
    hull: list[tuple[float, float]] = []
    for c, q in pts[:top + 1]:
        if hull and c == hull[-1][0]:
            continue  # same cost, lower or equal quality (sorted)
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], (c, q)) >= 0:
            hull.pop()  # the middle vertex lies on or below the chord
        hull.append((c, q))
    return np.array(hull)


def _cross(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def aiq(cost: np.ndarray, quality: np.ndarray, c_min: float, c_max: float) -> float:
    """Mean of the non-decreasing convex hull over [c_min, c_max]; NaN when the curve does not reach
    down to c_min (a single point, or one above the cheapest candidate's cost)."""
    hull = nondecreasing_hull(np.asarray(cost, float), np.asarray(quality, float))
    if len(hull) < 2 or hull[0, 0] > c_min + 1e-15 or c_max <= c_min:
        return math.nan
    grid = np.union1d(np.clip(hull[:, 0], c_min, c_max), [c_min, c_max])
    heights = np.interp(grid, hull[:, 0], hull[:, 1])  # flat past the last vertex
    return float(np.trapezoid(heights, grid) / (c_max - c_min))


def pgr(quality: np.ndarray, strong: float | np.ndarray, weak: float | np.ndarray) -> np.ndarray:
    """Performance gap recovered; NaN where the strong model is not better than the weak one."""
    gap = np.asarray(strong, float) - np.asarray(weak, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, (np.asarray(quality, float) - weak) / np.where(gap > 0, gap, 1.0), np.nan)


def apgr(shares: np.ndarray, gaps: np.ndarray) -> float:
    """Trapezoid area of PGR over the strong-call share (RouteLLM's APGR)."""
    return float(np.trapezoid(gaps, shares)) if np.isfinite(gaps).all() else math.nan


def cpt(shares: np.ndarray, gaps: np.ndarray, target: float) -> float:
    """The smallest strong-call share at which the piecewise-linear PGR curve reaches ``target``."""
    if not np.isfinite(gaps).all():
        return math.nan
    for i in range(len(shares)):
        if gaps[i] >= target:
            if i == 0:
                return float(shares[0])
            t = (target - gaps[i - 1]) / (gaps[i] - gaps[i - 1])
            return float(shares[i - 1] + t * (shares[i] - shares[i - 1]))
    return math.nan


# --------------------------------------------------------------------------------------------
# A run's scores: stored in the run file, else from its fold caches
# --------------------------------------------------------------------------------------------

def run_scores(run: dict[str, Any]) -> tuple[dict[str, np.ndarray] | None, str]:
    """Per benchmark the router's (n_items, n_models) scores and where they came from."""
    benches = run["benchmarks"]
    if all("scores" in b for b in benches.values()):
        return {n: np.asarray(b["scores"], dtype=np.float64) for n, b in benches.items()}, "run file"
    folds = _from_fold_cache(run)
    if folds is not None:
        return folds, "fold cache"
    return None, "choices only (the run file stores no scores and its fold caches are gone: re-run the router)"


def _from_fold_cache(run: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """cv runs: each fold's out-of-fold scores, cached under the key its training summary names."""
    from harness.core.protocols import cv_folds

    routing, benches = run.get("routing") or {}, run["benchmarks"]
    summaries = routing.get("training") or []
    if run.get("protocol") != "cv" or not summaries or any("earlier_run" in b for b in benches.values()):
        return None
    labels = [name for name, b in benches.items() for _ in b["ids"]]
    folds = cv_folds(labels, int(routing.get("folds", len(summaries))), int(run["seed"]))
    scores = np.zeros((len(labels), len(run["models"])))
    for summary in summaries:
        path = config.parsed_cache_dir() / "folds" / f"{summary.get('cache_key')}.npy"
        if not path.exists():
            return None
        part = np.load(path)
        if part.shape != (int(np.sum(folds == summary["fold"])), len(run["models"])):
            return None
        scores[folds == summary["fold"]] = part
    offsets = np.cumsum([0] + [len(b["ids"]) for b in benches.values()])
    out = {name: scores[offsets[i]:offsets[i + 1]] for i, name in enumerate(benches)}
    same = all(np.array_equal(np.argmax(out[n], axis=1), np.asarray(b["choice"])) for n, b in benches.items())
    return out if same else None  # a cache that does not reproduce the stored choices is not this run's


# --------------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------------

class Scorer:
    """mu_o and mu_n of a choice vector on one benchmark of the pool, under ``rules``."""

    def __init__(self, benchmark: str, models: list[str], rules: str):
        from harness.core.runner import references

        self.adapter, self.data, self.rules = get_benchmark(benchmark), store.load(benchmark, models), rules
        self.refs = references(benchmark, tuple(models), rules)

    def point(self, choice: np.ndarray, costs: np.ndarray, lam: float | None = None) -> dict[str, Any]:
        mu_o = float(conventions.score(self.adapter, self.data, choice, self.rules, detail=False)["score"])
        usd = float(costs[np.arange(len(choice)), choice].mean())
        return {"lambda": None if lam is None or math.isinf(lam) else lam, "usd_per_item": usd, "mu_o": mu_o,
                "mu_n": normalized(mu_o, self.refs["random"], self.refs["oracle"])}


def _average(curves: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Points of equal index averaged over benchmarks (mean cost per item, average mu_n)."""
    n = min(len(c) for c in curves.values())
    return [{"lambda": next(iter(curves.values()))[k]["lambda"],
             "usd_per_item": float(np.mean([c[k]["usd_per_item"] for c in curves.values()])),
             "mu_n": float(np.mean([c[k]["mu_n"] for c in curves.values()]))} for k in range(n)]


def _aiq_of(points: list[dict[str, Any]], singles: list[dict[str, Any]]) -> float:
    c = [s["usd_per_item"] for s in singles]
    return aiq(np.array([p["usd_per_item"] for p in points]), np.array([p["mu_n"] for p in points]), min(c), max(c))


def build_curves(run: dict[str, Any], costs: dict[str, np.ndarray], rules: str) -> dict[str, Any]:
    """The curves' data of one run record (see the module doc; the strong/weak metrics are added by
    :func:`harness.report.curves_pairs.build`); ``costs``: USD per item and candidate."""
    models, scores, source = run["models"], *run_scores(run)
    out: dict[str, Any] = {"router": run["router"], "pool": run["pool"], "protocol": run["protocol"],
                           "profile": run["profile"], "seed": run["seed"], "conventions": rules,
                           "scores": source, "benchmarks": {}}
    grid = lambda_grid(np.concatenate([switch_points(scores[b], costs[b]) for b in scores]), LAMBDAS) if scores else [0.0]
    out["lambdas"] = [None if math.isinf(x) else x for x in grid]
    for name, bench in run["benchmarks"].items():
        sc = Scorer(name, models, rules)
        if [str(i) for i in bench["ids"]] != list(sc.data.ids):
            raise HarnessError(f"run {run['router']}: benchmark '{name}': its items differ from the cache's; re-run it")
        stored = np.asarray(bench["choice"], dtype=np.int64)
        curve = [sc.point(stored if lam == 0 else choose(scores[name], costs[name], lam), costs[name], lam)
                 for lam in grid] if scores else [sc.point(stored, costs[name], 0.0)]
        gt = conventions.ground_truth(sc.adapter, sc.data, rules)
        oracle = [sc.point(choose(gt, costs[name], lam, cheaper_ties=True), costs[name], lam)
                  for lam in lambda_grid(switch_points(gt, costs[name]), ORACLE_LAMBDAS)]
        singles = [{"model": m, **sc.point(sc.data.fixed_choice(j), costs[name])} for j, m in enumerate(models)]
        out["benchmarks"][name] = {"router": curve, "oracle": oracle, "single": singles,
                                   "aiq": {"router": _aiq_of(curve, singles), "oracle": _aiq_of(oracle, singles)}}
    benches = out["benchmarks"]
    singles = [{"model": m, "usd_per_item": float(np.mean([b["single"][j]["usd_per_item"] for b in benches.values()])),
                "mu_n": float(np.mean([b["single"][j]["mu_n"] for b in benches.values()]))} for j, m in enumerate(models)]
    router, oracle = _average({n: b["router"] for n, b in benches.items()}), _average({n: b["oracle"] for n, b in benches.items()})
    out["average"] = {"router": router, "oracle": oracle, "single": singles,
                      "aiq": {"router": _aiq_of(router, singles), "oracle": _aiq_of(oracle, singles)}}
    return out


def curve_path(run: dict[str, Any]) -> Path:
    from harness.core.runner import run_file_name

    name = run_file_name(run["router"], run["pool"], run["protocol"], run["profile"], run["seed"])
    return curve_dir() / name


def write_curves(data: dict[str, Any], run: dict[str, Any], prices: dict[str, Any]) -> Path:
    path = curve_path(run)
    atomic_write_json(path, {**data, "prices": prices}, compact=False)
    return path


def load_curves(folder: Path | None = None) -> list[dict[str, Any]]:
    folder = folder or curve_dir()
    return [read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def ci_of(draws: np.ndarray) -> list[float] | None:
    finite = draws[np.isfinite(draws)]
    return list(interval(finite)) if len(finite) >= 0.5 * len(draws) and len(finite) else None
