"""Evaluate one router on a pool: route every item, score each benchmark natively, normalize
against random and oracle, write the run file and the leaderboard rows."""
from __future__ import annotations

import re
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from benchmarks import PAPER_BENCHMARKS, get_benchmark
from benchmarks.base import BenchmarkData
from harness.core import config, conventions, leaderboard, protocols, provenance, run_checks, run_costs, run_merge, store
from harness.core.errors import HarnessError
from harness.core.io import read_json, sigterm_deferred
from harness.core.normalize import average, normalized
from harness.core.pools import resolve_pool
from routers import build_router
from routers.profiles import SPEED_ONLY
from routers.base import Router, RouterContext, RoutingData


@dataclass
class EvalConfig:
    router: str
    pool: str = "paper5"
    benchmarks: list[str] = field(default_factory=lambda: list(PAPER_BENCHMARKS))
    protocol: str = "cv"
    profile: str = "cpu"
    seed: int = 0
    folds: int = 5
    random_draws: int = 0  # >0: also a seeded Monte-Carlo estimate of the random router
    options: dict[str, Any] = field(default_factory=dict)
    conventions: str = "paper"  # scoring rules: paper or official (harness.core.conventions)


@dataclass
class BenchmarkResult:
    benchmark: str
    metric: str
    score: float
    normalized: float
    random: float
    oracle: float
    n_items: int
    n_dropped: int
    details: dict[str, Any]


def parse_benchmarks(spec: str | list[str] | None) -> list[str]:
    if not spec or spec == "all":
        return list(PAPER_BENCHMARKS)
    names = spec if isinstance(spec, list) else [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        get_benchmark(name)  # unknown names fail here, with suggestions
    return names


def routing_data(datas: dict[str, BenchmarkData], models: list[str]) -> RoutingData:
    """All benchmarks' items pooled, with labels and answers (strip them with ``.queries()``)."""
    uids, benches, prompts, responses, scores = [], [], [], [], []
    for name, data in datas.items():
        uids += [f"{name}/{i}" for i in data.ids]
        benches += [name] * data.n_items
        prompts += data.prompts
        responses += [[data.answers[m][i] for m in models] for i in range(data.n_items)]
        scores.append(data.gt)
    return RoutingData(uids=uids, benchmarks=benches, prompts=prompts, models=list(models),
                       responses=responses, scores=np.concatenate(scores, axis=0))


@lru_cache(maxsize=64)
def references(benchmark: str, models: tuple[str, ...], rules: str = "paper") -> dict[str, Any]:
    """Each candidate's own metric, their mean (random) and the oracle's, for one pool."""
    data = store.load(benchmark, list(models))
    adapter = get_benchmark(benchmark)
    fixed = {m: conventions.score(adapter, data, data.fixed_choice(j), rules, detail=False)["score"]
             for j, m in enumerate(models)}
    oracle = conventions.score(adapter, data, conventions.oracle_choice(adapter, data, rules), rules, detail=False)["score"]
    return {"fixed": fixed, "random": float(np.mean(list(fixed.values()))), "oracle": oracle}


def _route(router: Router, cfg: EvalConfig, data: RoutingData) -> tuple[np.ndarray, dict[str, Any]]:
    """Scores (n_items, n_models) for every pooled item, under the run's protocol."""
    n, t = len(data), len(data.models)
    router = run_checks.guard(router, cfg.router)  # what predict returns is checked; a plug-in's errors: one line
    if not router.learns:
        shown = data if router.uses_test_labels else data.queries(benchmark_label=router.uses_benchmark_label)
        return protocols.check_scores(router.predict(shown), n, t, cfg.router), {}
    if cfg.protocol in protocols.FOLD_PROTOCOLS:  # cv, within, lobo (harness.core.protocols)
        if cfg.protocol == "lobo" and router.uses_benchmark_label:
            raise HarnessError(f"router '{cfg.router}' routes by the benchmark's name, and lobo's held-out benchmark "
                               "is never in training; lobo's reference is the best single model on the training "
                               "benchmarks, recorded in every lobo run")
        ctx = lambda: RouterContext(models=data.models, seed=cfg.seed, profile=cfg.profile,  # noqa: E731
                                    options=dict(cfg.options))
        make = lambda: run_checks.guard(build_router(cfg.router, ctx()), cfg.router)  # noqa: E731
        return protocols.route_folds(make, cfg.router, data, cfg.protocol, cfg.folds, cfg.seed)
    if cfg.protocol == "paper":
        from benchmarks import custom
        from harness.core import training_sets

        # a benchmark file's own train/val split, else the cache's train/ sets
        sets = custom.training_data(list(dict.fromkeys(data.benchmarks)), data.models) or training_sets.load(data.models)
        router.fit(sets.train, sets.valid)
        info = {"training_sets": sets.used, "missing_training_sets": sets.missing, "partial": sets.partial,
                "n_train": len(sets.train), "n_valid": len(sets.valid) if sets.valid is not None else 0,
                "training": [getattr(router, "training_summary", dict)()]}
        return protocols.check_scores(router.predict(data.queries(benchmark_label=router.uses_benchmark_label)),
                                       n, t, cfg.router), info
    raise HarnessError(f"protocol '{cfg.protocol}' is not available for router '{cfg.router}'")


def _reference(adapter, data: BenchmarkData, choice: np.ndarray, refs: dict[str, Any], rules: str) -> dict[str, Any]:
    """The protocol's single-model reference on one benchmark: its per-item choice (the best single
    model of the fold's training items) and its score, for the skill figures of the reports."""
    score = float(conventions.score(adapter, data, choice, rules, detail=False)["score"])
    return {"choice": choice.tolist(), "score": score, "normalized": normalized(score, refs["random"], refs["oracle"]),
            "rule": protocols.REFERENCE_RULE}


def _benchmark_files(benchmarks: list[str]) -> dict[str, Any]:
    """Benchmark files of one's own behind the run (path and sha256), so a report can re-load them."""
    from benchmarks import custom

    files = custom.files_of(benchmarks)
    return {"benchmark_files": files} if files else {}


def _scores_record(router: Router, block: np.ndarray) -> dict[str, Any]:
    """The router's scores (5 significant digits), kept for the cost-quality sweep of
    harness.report.curves; reference routers (oracle, random, fixed) return no scores worth keeping."""
    from routers.reference import ReferenceRouter

    if isinstance(router, ReferenceRouter):
        return {}
    return {"scores": [[float(f"{v:.5g}") for v in row] for row in block]}


def profile_label(cfg: EvalConfig) -> str:
    """The profile, plus any options that change results, so such runs never replace plain ones."""
    changed = {k: v for k, v in sorted(cfg.options.items()) if k not in SPEED_ONLY}
    return cfg.profile + ("(" + ",".join(f"{k}={v}" for k, v in changed.items()) + ")" if changed else "")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def run_file_name(router: str, pool: str, protocol: str, profile: str, seed: int) -> str:
    if "," in pool:
        import hashlib
        pool = "custom-" + hashlib.sha256(pool.encode()).hexdigest()[:8]
    if protocol == "none":  # reference routers: no protocol, profile or seed to tell apart
        return f"{_slug(router)}__{_slug(pool)}.json"
    return f"{_slug(router)}__{_slug(pool)}__{protocol}__{profile}__seed{seed}.json"


def evaluate(cfg: EvalConfig, *, write: bool = True) -> list[BenchmarkResult]:
    """Route, score and normalize every benchmark of ``cfg``; with ``write``, store the run file and
    the leaderboard rows in ``config.results_dir()``."""
    results, run = evaluate_run(cfg)
    if write:
        publish(run, results)
    return results


def evaluate_run(cfg: EvalConfig) -> tuple[list[BenchmarkResult], dict[str, Any]]:
    """The results and the run record (per-item ids and choices, references, config, provenance),
    written nowhere."""
    protocols.check_protocol(cfg.protocol)
    rules = conventions.check(cfg.conventions)
    pool_label, models = resolve_pool(cfg.pool)
    benchmarks = parse_benchmarks(cfg.benchmarks)
    router = build_router(cfg.router, RouterContext(models=models, seed=cfg.seed, profile=cfg.profile,
                                                    options=dict(cfg.options)))
    protocol = cfg.protocol if router.learns else "none"
    if router.learns:
        from routers.profiles import check_profile

        check_profile(cfg.profile)
    profile = profile_label(cfg) if router.learns else "-"
    started = time.perf_counter()
    datas = {b: store.load(b, models) for b in benchmarks}
    run_checks.require_items(datas, pool_label)  # no benchmark scored on zero items (a NaN row)
    pooled = routing_data(datas, models)
    if rules != "paper" and router.uses_test_labels:  # the oracle picks by the rules' own ground truth;
        # learned routers keep training on the paper's labels (and their fold caches): only scoring changes
        pooled.scores = np.concatenate([conventions.ground_truth(get_benchmark(b), d, rules) for b, d in datas.items()])
    if router.learns:
        print(expected_duration(cfg.router, pool_label, cfg.protocol, profile), file=sys.stderr)
    scores, route_info = _route(router, cfg, pooled)
    reference = route_info.pop("reference_choice", None)  # within, lobo: each item's single-model reference
    if route_info.get("partial"):
        protocol = "paper-partial"  # trained without some of the paper's training sets: say so in every row
    choice_all = np.argmax(scores, axis=1)

    results: list[BenchmarkResult] = []
    run_benchmarks: dict[str, Any] = {}
    offset = 0
    for name, data in datas.items():
        adapter = get_benchmark(name)
        choice = choice_all[offset:offset + data.n_items]
        offset += data.n_items
        refs = references(name, tuple(models), rules)
        if router.expected_over_candidates:
            details: dict[str, Any] = {"score": refs["random"], "estimate": "mean of the candidates' metrics"}
            if cfg.random_draws > 0:
                draws = [adapter.score(data, np.random.default_rng([cfg.seed, d]).integers(
                    0, len(models), data.n_items), detail=False, **conventions.options(adapter, rules))["score"]
                    for d in range(cfg.random_draws)]
                details.update(mc_mean=float(np.mean(draws)), mc_std=float(np.std(draws, ddof=1)),
                               mc_draws=cfg.random_draws)
        else:
            details = conventions.score(adapter, data, choice, rules, seed=cfg.seed)
        score = float(details.pop("score"))
        result = BenchmarkResult(
            benchmark=name, metric=adapter.metric, score=score,
            normalized=normalized(score, refs["random"], refs["oracle"]),
            random=refs["random"], oracle=refs["oracle"], n_items=data.n_items,
            n_dropped=len(data.dropped), details=details)
        results.append(result)
        run_benchmarks[name] = {
            **asdict(result), "fixed": refs["fixed"], "dropped": data.dropped, "ids": data.ids,
            "choice": choice.tolist(), **_scores_record(router, scores[offset - data.n_items:offset]),
            "routing_share": {m: float(np.mean(choice == j)) for j, m in enumerate(models)},
        }
        if reference is not None:
            run_benchmarks[name]["reference"] = _reference(adapter, data, reference[offset - data.n_items:offset], refs,
                                                           rules)
        if data.dropped:
            print(f"{name}: {len(data.dropped)} item(s) dropped (not answered by every candidate); "
                  f"{data.n_items} scored", file=sys.stderr)
    elapsed = time.perf_counter() - started
    run = {
        "router": cfg.router, "pool": pool_label, "models": models, "protocol": protocol,
        "profile": profile, "seed": cfg.seed, "config": asdict(cfg), "router_config": router.config(),
        "routing": route_info, "flags": fold_flags(route_info), "provenance": {**provenance.stamp(), **provenance.code_stamp(type(router)),
                       "candidate_files": provenance.candidate_files(benchmarks, models),
                       **_benchmark_files(benchmarks)},
        "seconds": round(elapsed, 2), "average_normalized": average([r.normalized for r in results]),
        "expected_over_candidates": router.expected_over_candidates, "conventions": rules,
        "benchmarks": run_benchmarks,
    }
    return results, run


def fold_flags(route_info: dict[str, Any]) -> list[str]:
    """The training warnings of every fold (e.g. a response objective that never trained), for the run's
    summary: 'fold 2/5: ...' (numbered from 1, as the progress lines; a lobo fold by its benchmark)."""
    folds = route_info.get("training") or []
    out = []
    for i, fold in enumerate(folds):
        key = fold.get("fold", i)
        name = f"fold {key + 1}/{len(folds)}" if isinstance(key, int) else f"fold {key}"
        out += [f"{name}: {flag}" for flag in fold.get("flags") or []]
    return out


@sigterm_deferred()  # a SIGTERM lands before or after the run file and its rows, never between
def publish(run: dict[str, Any], results: list[BenchmarkResult]) -> str:
    """Write the run file and replace the run's leaderboard rows (in ``config.results_dir()``);
    returns the run file's path relative to it. Under torchrun only the main process writes."""
    from harness.core import distributed

    run_file = "runs/" + run_file_name(run["router"], run["pool"], run["protocol"], run["profile"], run["seed"])
    if not distributed.is_main_process():
        return run_file
    group = (run["router"], run["pool"], run["protocol"], run["profile"])
    earlier = _earlier_router_config(group)  # before overwriting it
    run = run_merge.write_run(config.results_dir() / run_file, run)  # keeps the benchmarks it does not re-run
    costs = run_costs.columns_for_new_run(run, run_file, earlier, expected=run["expected_over_candidates"])
    stamp = {k: run["provenance"][k] for k in ("commit", "data_manifest", "created")}
    rows = [
        {"router": run["router"], "pool": run["pool"], "protocol": run["protocol"], "profile": run["profile"],
         "seed": run["seed"], "benchmark": r.benchmark, "metric": r.metric, "score": round(r.score, 4),
         "normalized": round(r.normalized, 4), "ci_low": _round(r.details.get("ci_low")),
         "ci_high": _round(r.details.get("ci_high")), "n_items": r.n_items, "n_dropped": r.n_dropped,
         "run_file": run_file, **costs.get(r.benchmark, {}), **stamp,
         "conventions": run.get("conventions", "paper"), "usd_total": None, "usd_per_item": None}  # $: costcurve
        for r in results
    ]
    leaderboard.update(rows)
    return run_file


def expected_duration(router: str, pool: str, protocol: str, profile: str) -> str:
    """One line saying how long this setup took last time (any seed, scratch or published runs), so a
    long training run is announced before it starts."""
    stem = run_file_name(router, pool, protocol, profile, 0).rsplit("__seed", 1)[0]
    for folder in dict.fromkeys([config.results_dir() / "runs", config.published_results_dir() / "runs"]):
        for path in sorted(folder.glob(f"{stem}__seed*.json")):
            try:
                seconds = float(read_json(path).get("seconds"))
            except (HarnessError, TypeError, ValueError):
                continue
            return (f"{router}: training under {protocol} ({profile}); the last run of this setup took "
                    f"{seconds / 60:.1f} min ({path.name}); fold caches are re-used where code and data are unchanged")
    return (f"{router}: training under {protocol} ({profile}); no earlier run of this setup to estimate from "
            f"(times of the published runs: docs/measurements.md)")


def _earlier_router_config(group: tuple[str, str, str, str]) -> dict | None:
    """The router config of the run the leaderboard's rows for (router, pool, protocol, profile) name
    now, whose cost figures they carry; None when there are no such rows or the run file is gone."""
    for row in leaderboard.read_rows():
        if (row["router"], row["pool"], row["protocol"], row["profile"]) == group and row.get("run_file"):
            path = config.results_dir() / row["run_file"]
            return read_json(path).get("router_config") if path.exists() else None
    return None


def _round(value: Any) -> Any:
    return None if value is None else round(float(value), 4)
