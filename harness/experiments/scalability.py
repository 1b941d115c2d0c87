"""`make scalability`: train and measure what the scalability table needs (paper notes, section 6): quality and router cost for pools of T candidates.

For each size T the pool is the first T of the paper's 8-candidate list (T=3 and 5: the first 3 and
5 of paper5; T=8: paper5 + deepseek-coder-6.7b-instruct, Llama-3.2-3B-Instruct, Qwen2.5-1.5B-Instruct).
Per benchmark the table holds random, oracle and each learned router's native score under ``cv``, and
each router's GFLOPs per query and batch-1 latency. A benchmark whose cache lacks one of the pool's
models is written as "not in cache" -- never scored on a substitute pool.

Resumable: a learned router's run file (``results/runs``) is read instead of re-run, its cost file
(``results/cost``) instead of re-measured, and an interrupted cv resumes from its fold cache. The table
is rewritten atomically after every step, so it always shows what is done so far.
"""

import sys
from pathlib import Path

from harness.core import leaderboard, run_costs, runner
from harness.cost import runs as cost
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, atomic_write_text, read_json
from harness.report import board

from harness.experiments.scalability_plan import CANDIDATES, NOT_RUN, Pool, Settings, alternative_path, alternative_pools, main_pools, ordered, pool_name, read_run, run_name, table_path
from harness.experiments.scalability_table import render, render_alternative


def to_evaluate(router: str, pool: Pool, s: Settings) -> tuple[dict | None, list[str] | None]:
    """(the existing run, the benchmarks to evaluate it on, or None when it is complete): a run is
    complete when it covers the pool's benchmarks (unless ``force``); a re-run covers those plus any
    the old run had (a run file is never narrowed)."""
    run = read_run(router, pool, s)
    have = set((run or {}).get("benchmarks", {}))
    if run is not None and set(pool.available) <= have and not s.force:
        return run, None
    return run, ordered(set(pool.available) | have)


def eval_config(router: str, pool: Pool, s: Settings, benchmarks: list[str]) -> runner.EvalConfig:
    return runner.EvalConfig(router=router, pool=",".join(pool.models), benchmarks=benchmarks, protocol="cv",
                             profile=s.profile, seed=s.seed, folds=s.folds)


def ensure_run(router: str, pool: Pool, s: Settings, step: str) -> dict | None:
    """The router's cv run on the pool: read when complete, else evaluated (see :func:`to_evaluate`)."""
    run, benchmarks = to_evaluate(router, pool, s)
    if benchmarks is None:
        _say(f"{step}: read runs/{run_name(router, pool, s)}")
        return run
    if not s.train:
        _say(f"{step}: {NOT_RUN} (training is off)")
        return run  # a run covering part of the benchmarks still fills its cells
    _say(f"{step}: evaluating under cv ({s.folds} folds) on {', '.join(benchmarks)}")
    runner.evaluate(eval_config(router, pool, s, benchmarks))
    return read_run(router, pool, s)


# Relative training time per training item (after the profile's per-benchmark cap), linear in the pool
# size T: (base, per candidate). MLC reads the query alone; the Lookahead routers add tokens per
# candidate. From 1-thread lane times of 2026-11-30 (mlc T=3 38.4 min on 3,806 capped items,
# lookahead_mlm T=8 28.7 on 805), the T=3 / T=8 ratios of the 2026-11-23 runs, and for lookahead_clm
# (600 items per benchmark) its one-pass run times scaled the same way: rough, but enough to order
# the queue. Lanes start the longest runs first, so the last one does not run alone on one lane's cores.
# lookahead_clm's cpu setup now runs all 30 SmolLM2 layers (top 4 trained, 200 items per benchmark):
# ~3.5x the 4-layer step (side-by-side probes, 2026-12-01), so its per-item cost is scaled by 3.5.
TRAINING_COST = {"mlc": (1.0, 0.0), "lookahead_mlm": (1.0, 0.27), "lookahead_clm": (1.05, 1.96)}


def expected_training(router: str, pool: Pool, benchmarks: list[str], s: Settings) -> float:
    """A run's expected training time in relative units (what orders the lanes' queue)."""
    from harness.core import store
    from routers import build_router
    from routers.base import RouterContext

    built = build_router(router, RouterContext(models=pool.models, profile=s.profile))  # no weights yet
    cap = getattr(built, "settings", {}).get("cap_per_benchmark")
    items = sum(min(n, cap) if cap else n for n in (store.load(b, pool.models).n_items for b in benchmarks))
    base, per_candidate = TRAINING_COST.get(router, (1.0, 0.0))
    return items * (base + per_candidate * pool.size)


def train_in_lanes(todo: list[tuple[Pool, str]], s: Settings, states: dict, write) -> set[tuple[str, str]]:
    """Train every incomplete run of ``todo`` ``s.jobs`` at a time (harness.experiments.lanes); returns the
    (pool label, router) pairs trained, whose runs are then read, not evaluated again."""
    from harness.experiments import lanes

    jobs, owner = [], {}  # owner: job label -> (pool, router)
    for pool, router in todo:
        _, benchmarks = to_evaluate(router, pool, s)
        if benchmarks is None:
            continue
        label = f"T={pool.size} {pool_name(pool)} {router}"
        jobs.append(lanes.Job(eval_config(router, pool, s, benchmarks), label,
                              lanes.log_dir() / run_name(router, pool, s).replace(".json", ".log"),
                              weight=expected_training(router, pool, benchmarks, s)))
        owner[label] = (pool, router)
    if not jobs:
        return set()
    _say(f"training {len(jobs)} run(s) under cv, {s.jobs} at a time")

    def done(job) -> None:
        pool, router = owner[job.label]
        states.setdefault((pool.label, router), {})["run"] = read_run(router, pool, s)
        write()

    lanes.run(jobs, s.jobs, on_done=done, router_modules=s.router_modules, say=_say)
    return {(pool.label, router) for pool, router in owner.values()}


# --------------------------------------------------------------------------------------------------
# Cost: a cost file, else the leaderboard's columns, else a measurement


def _leaderboard_cost(run_file: str) -> dict | None:
    """Pooled figures from the leaderboard's cost columns (no per-benchmark split there)."""
    for row in leaderboard.read_rows():
        if row.get("run_file") == run_file and row.get("gflops") not in (None, ""):
            return {"gflops": float(row["gflops"]), "gflops_dense": float(row["gflops_dense"]),
                    "latency_ms": float(row["latency_ms"]), "latency_p95_ms": float(row["latency_p95_ms"]),
                    "device": "see leaderboard", "source": "leaderboard", "per_benchmark": {}}
    return None


def ensure_cost(router: str, pool: Pool, run: dict, s: Settings, step: str) -> dict | None:
    run_file = f"runs/{run_name(router, pool, s)}"
    path = run_costs.cost_path(run_file)
    if path.exists() and not s.force:
        return {**read_json(path), "source": "cost file"}
    found = None if s.force else _leaderboard_cost(run_file)
    if found is not None or not s.measure:
        return found
    _say(f"{step}: measuring GFLOPs and latency ({s.cost_sample} queries per benchmark)")
    row = {"router": router, "pool": run["pool"], "protocol": run["protocol"], "profile": run["profile"],
           "run_file": run_file}
    result = cost.measure_run(row, sample_per_benchmark=s.cost_sample, seed=s.seed)
    atomic_write_json(path, result)
    key = (router, run["pool"], run["protocol"], run["profile"])
    leaderboard.set_many(cost.row_updates(result, key))  # same columns `routing-harness cost` fills
    return {**result, "source": "measured"}


# --------------------------------------------------------------------------------------------------
# Driver


def _say(text: str) -> None:
    print(f"scalability: {text}", file=sys.stderr, flush=True)


def check_routers(routers: list[str], profile: str) -> None:
    """Fail early (one line) on an unknown or non-learning router name or an unknown profile."""
    from routers import build_router
    from routers.base import RouterContext
    from routers.profiles import check_profile

    check_profile(profile)
    for name in routers:
        router = build_router(name, RouterContext(models=CANDIDATES[:2], profile=profile))  # cheap: no weights yet
        if not router.learns:
            raise HarnessError(f"--routers: '{name}' does not learn (random and oracle are always in the table)")


def run(s: Settings) -> Path:
    """Fill every cell that can be filled, writing the table after each step; returns its path."""
    from harness.core import data

    data.ensure()
    check_routers(s.routers, s.profile)
    pools, alts = main_pools(s), alternative_pools(s)
    states: dict[tuple[str, str], dict] = {}
    todo = [(p, r) for p in pools + alts if p.available for r in s.routers]

    def write() -> None:
        atomic_write_text(table_path(), render(s, pools, states))
        if alts:
            atomic_write_text(alternative_path(s.alternative), render_alternative(s, alts, states))

    trained = train_in_lanes(todo, s, states, write) if s.train and s.jobs > 1 else set()
    for k, (pool, router) in enumerate(todo, start=1):
        step = f"[{k}/{len(todo)}] T={pool.size} {pool_name(pool)} {router}"
        state = states.setdefault((pool.label, router), {})
        if (pool.label, router) in trained:
            state["run"] = read_run(router, pool, s)
        else:
            state["run"] = ensure_run(router, pool, s, step)
        if state["run"] is not None:
            state["cost"] = ensure_cost(router, pool, state["run"], s, step)
        write()
    write()
    board.render()  # new runs and cost columns reached leaderboard.csv
    if alts:
        _say(f"wrote {alternative_path(s.alternative)}")
    _say(f"wrote {table_path()}")
    return table_path()
