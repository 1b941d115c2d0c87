"""``routing-harness cost``: measure the router of every leaderboard run (re-using its fitted model
where one was saved), write ``results/cost/<run>.json`` and fill the rows' cost columns. The
measuring itself is :mod:`harness.cost.measure`. Imports: core, cost, routers."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.run_costs import cost_path, stored_cost
from harness.cost.measure import measure_router
from routers.base import Router, RouterContext

def saved_fold_router(run: dict) -> Path | None:
    """The first fitted fold router the run's cv saved (``harness.core.protocols.fitted_router_path``)."""
    from harness.core import protocols

    for summary in (run.get("routing") or {}).get("training") or []:
        key = summary.get("cache_key") if isinstance(summary, dict) else None
        if key and protocols.fitted_router_path(key).exists():
            return protocols.fitted_router_path(key)
    return None


def obtain_router(name: str, run: dict) -> tuple[Router, str]:
    """The router of a run, ready to predict: (router, "reference" | "fitted" | "untrained").

    A learned router is re-used, in this order, when it implements ``load_fitted(run) -> bool`` and
    that finds its fitted model, or implements ``load(path)`` and the run's cv saved a fold router
    (any fold: they share the architecture). Otherwise it must implement ``init_untrained()``: FLOPs
    and latency do not depend on the weights (a neighbour search's do on its index size, which
    ``init_untrained`` must then reproduce).
    """
    from routers import build_router

    config = run.get("config", {})
    # the bare profile the run was configured with (the run's label may carry its OPTIONS: "cpu(span=2)")
    profile = config.get("profile") or (run.get("profile") if run.get("profile") not in (None, "-") else "cpu")
    # the run's options, but not the thread count it trained with (parallel lanes train on fewer):
    # every router is timed on its profile's threads
    options = {k: v for k, v in (config.get("options") or {}).items() if k != "num_threads"}
    ctx = RouterContext(models=list(run["models"]), seed=int(run.get("seed") or 0), profile=profile, options=options)
    router = build_router(name, ctx)
    if not router.learns:
        return router, "reference"
    load = getattr(router, "load_fitted", None)
    if callable(load) and load(run):
        return router, "fitted"
    saved = saved_fold_router(run) if callable(getattr(router, "load", None)) else None
    if saved is not None:
        router.load(saved)
        return router, "fitted"
    try:
        router.init_untrained()
    except NotImplementedError:
        raise HarnessError(f"router '{name}': cannot be measured (no fitted model found by load_fitted(run), "
                           f"and no init_untrained())") from None
    return router, "untrained"


def _groups(rows: list[dict], routers: list[str] | None) -> dict[tuple[str, str, str, str], dict]:
    """Leaderboard rows grouped per run: (router, pool, protocol, profile) -> a row (for its run file)."""
    groups: dict[tuple[str, str, str, str], dict] = {}
    for row in rows:
        if routers and row["router"] not in routers:
            continue
        groups.setdefault((row["router"], row["pool"], row["protocol"], row["profile"]), row)
    for name in routers or []:
        if not any(key[0] == name for key in groups):
            raise HarnessError(f"router '{name}': no leaderboard rows to fill (run 'make eval ROUTER={name}' first)")
    return groups


def measure_run(row: dict, **settings: Any) -> dict[str, Any]:
    """Measure the router of one leaderboard run on that run's pool and benchmarks."""
    from harness.core import config, runner, store
    from harness.core.io import read_json

    run = read_json(config.results_dir() / row["run_file"])
    router, weights = obtain_router(row["router"], run)
    datas = {b: store.load(b, run["models"]) for b in run["benchmarks"]}
    items = runner.routing_data(datas, run["models"])
    result = measure_router(router, items, run=run, **settings)
    return {"router": row["router"], "pool": row["pool"], "protocol": row["protocol"],
            "profile": row["profile"], "run_file": row["run_file"], "weights": weights, **result}



def leaderboard_values(result: dict[str, Any], benchmark: str) -> dict[str, Any]:
    """One leaderboard row's cost columns: per-query means over all benchmarks (the figure a router is
    compared by), and the activated parameters of that row's benchmark."""
    activated = result.get("activated_params_b", {}).get("per_benchmark", {}).get(benchmark)
    return {"gflops": _sig(result["gflops"]), "gflops_dense": _sig(result["gflops_dense"]),
            "latency_ms": round(result["latency_ms"], 3), "latency_p95_ms": round(result["latency_p95_ms"], 3),
            "router_params": result["router_params"],
            "activated_params_b": None if activated is None else round(activated, 3)}


def _sig(value: float, digits: int = 5) -> float:
    return 0.0 if value == 0 else float(f"{value:.{digits}g}")


def row_updates(result: dict[str, Any], key: tuple[str, str, str, str]) -> list[tuple[dict, dict]]:
    """(match, cost columns) for every benchmark row of a run's group (router, pool, protocol, profile)."""
    name, pool, protocol, profile = key
    match = {"router": name, "pool": pool, "protocol": protocol, "profile": profile}
    return [({**match, "benchmark": bench}, leaderboard_values(result, bench)) for bench in result["per_benchmark"]]


def fill_leaderboard(routers: list[str] | None = None, *, strict: bool | None = None, missing: bool = False,
                     **settings: Any) -> list[dict[str, Any]]:
    """Measure every run on the leaderboard (or those of ``routers``), write ``results/cost/<run>.json``
    and the rows' cost columns. Named routers must be measurable; with none named, runs whose router
    cannot be measured yet are skipped with a message. ``missing``: a run with a cost file (its own or
    another seed's of the same router, pool, protocol and profile) is not measured again; the stored
    figures are (re)applied to its rows."""
    from harness.core import leaderboard
    from harness.core.io import atomic_write_json, read_json

    strict = bool(routers) if strict is None else strict
    rows = leaderboard.read_rows()
    done, updates = [], []
    try:
        for key, row in _groups(rows, routers).items():
            found = stored_cost(row["run_file"]) if missing else None
            if found:
                updates += row_updates(read_json(found), key)
                continue
            try:
                result = measure_run(row, **settings)
            except HarnessError as exc:
                if strict:
                    raise
                print(f"skipped {key[0]} ({key[1]}, {key[2]}): {exc}", file=sys.stderr)
                continue
            atomic_write_json(cost_path(row["run_file"]), result)
            updates += row_updates(result, key)
            done.append(result)
    finally:  # what was measured before a failure still reaches the leaderboard
        if updates:
            leaderboard.set_many(updates)
    return done
