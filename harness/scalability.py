"""The scalability table (paper notes, section 6): quality and router cost for pools of T candidates.

For each size T the pool is the first T of the paper's 8-candidate list (T=3 and 5: the first 3 and
5 of paper5; T=8: paper5 + deepseek-coder-6.7b-instruct, Llama-3.2-3B-Instruct, Qwen2.5-1.5B-Instruct).
Per benchmark the table holds random, oracle and each learned router's native score under ``cv``, and
each router's GFLOPs per query and batch-1 latency. A benchmark whose cache lacks one of the pool's
models is written as "not in cache" -- never scored on a substitute pool.

Resumable: a learned router's run file (``results/runs``) is read instead of re-run, its cost file
(``results/cost``) instead of re-measured, and an interrupted cv resumes from its fold cache. The table
is rewritten atomically after every step, so it always shows what is done so far.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmarks import PAPER_BENCHMARKS, get_benchmark
from harness import config, cost, leaderboard, runner
from harness.errors import HarnessError
from harness.io import atomic_write_json, atomic_write_text, read_json
from harness.pools import PAPER5, PAPER8_EXTRA, resolve_pool

CANDIDATES = PAPER5 + PAPER8_EXTRA  # pools of size T are its first T models
DEFAULT_SIZES = [3, 5, 8]
DEFAULT_ROUTERS = ["mlc", "lookahead_clm", "lookahead_mlm"]
# Documented alternative pool for a second table. An 8-pool with gemma-2-9b-it exists only on
# AlpacaEval and MT-Bench (MATH/HumanEval hold at most 6 models), so the alternative that reaches the
# paper's three benchmarks is paper5 + gemma-2-9b-it (T=6; every benchmark but Arena-Hard).
ALTERNATIVES: dict[str, list[str]] = {"gemma6": PAPER5 + ["gemma-2-9b-it"]}
NOT_IN_CACHE = "not in cache"
NOT_RUN = "not run yet"
NOT_MEASURED = "not measured"


@dataclass
class Settings:
    sizes: list[int] = field(default_factory=lambda: list(DEFAULT_SIZES))
    routers: list[str] = field(default_factory=lambda: list(DEFAULT_ROUTERS))
    benchmarks: list[str] = field(default_factory=lambda: list(PAPER_BENCHMARKS))
    profile: str = "cpu"
    seed: int = 0
    folds: int = 5
    alternative: str | None = None  # optional second table, e.g. "gemma6": hours of cpu training cold
    force: bool = False  # re-evaluate and re-measure runs that exist (fold caches are still re-used)
    train: bool = True  # False: only read existing runs; the others' cells say "not run yet"
    measure: bool = True  # False: only read existing cost figures
    cost_sample: int = cost.DEFAULT_SAMPLE
    jobs: int = 1  # runs trained side by side (harness.lanes), the cores split between them
    router_modules: list[str] = field(default_factory=list)  # --router-module files, passed to the lanes


@dataclass
class Pool:
    size: int
    label: str
    models: list[str]
    available: list[str]  # requested benchmarks whose cache has every model of the pool
    missing: dict[str, list[str]]  # benchmark -> pool models its cache lacks
    note: str = ""


# --------------------------------------------------------------------------------------------------
# Pools and what the cache has


def parse_sizes(spec: str | list[int]) -> list[int]:
    """``"3,5,8"`` -> [3, 5, 8]; each size is a pool of 2..8 candidates."""
    parts = spec if isinstance(spec, list) else [s.strip() for s in str(spec).split(",") if s.strip()]
    sizes = []
    for part in parts:
        try:
            size = int(part)
        except ValueError:
            raise HarnessError(f"SIZES={spec}: '{part}' is not a whole number") from None
        if not 2 <= size <= len(CANDIDATES):
            raise HarnessError(f"SIZES={spec}: {size} is outside 2..{len(CANDIDATES)} "
                               f"(the candidate list is {','.join(CANDIDATES)})")
        sizes.append(size)
    if not sizes:
        raise HarnessError(f"SIZES={spec!r}: name at least one pool size")
    return sorted(set(sizes))


def check_alternative(name: str | None) -> str | None:
    if name in (None, "", "none"):
        return None
    if name not in ALTERNATIVES:
        raise HarnessError(f"--alternative {name}: unknown (known: {', '.join(ALTERNATIVES)}, none)")
    return name


@lru_cache(maxsize=None)
def cached_models(benchmark: str, root: str) -> frozenset[str]:
    return frozenset(get_benchmark(benchmark).models(Path(root)))


def make_pool(models: list[str], benchmarks: list[str], note: str = "") -> Pool:
    root = str(config.cache_root())
    missing = {b: [m for m in models if m not in cached_models(b, root)] for b in benchmarks}
    label, _ = resolve_pool(",".join(models))
    return Pool(size=len(models), label=label, models=list(models),
                available=[b for b in benchmarks if not missing[b]],
                missing={b: ms for b, ms in missing.items() if ms}, note=note)


def main_pools(s: Settings) -> list[Pool]:
    return [make_pool(CANDIDATES[:t], s.benchmarks) for t in s.sizes]


def alternative_pools(s: Settings) -> list[Pool]:
    if not s.alternative:
        return []
    return [make_pool(ALTERNATIVES[s.alternative], s.benchmarks, note=s.alternative)]


def pool_name(pool: Pool) -> str:
    """Short name for tables: the pool's label, or 'paper5 + extra' for a custom pool."""
    if "," not in pool.label:
        return pool.label
    base = [m for m in PAPER5 if m in pool.models]
    extra = [m for m in pool.models if m not in PAPER5]
    if pool.models[:len(base)] == base and len(base) in (3, 5):
        return f"paper{len(base)} + " + " + ".join(extra) if extra else f"paper{len(base)}"
    return ", ".join(pool.models)


# --------------------------------------------------------------------------------------------------
# Learned routers: read a run, or evaluate it


def run_name(router: str, pool: Pool, s: Settings) -> str:
    return runner.run_file_name(router, pool.label, "cv", s.profile, s.seed)


def read_run(router: str, pool: Pool, s: Settings) -> dict | None:
    path = config.results_dir() / "runs" / run_name(router, pool, s)
    if not path.exists():
        return None
    run = read_json(path)
    if list(run.get("models", [])) != pool.models:
        raise HarnessError(f"{path}: holds pool {','.join(run.get('models', []))}, expected {','.join(pool.models)}")
    return run


def ordered(names: set[str] | list[str]) -> list[str]:
    """Benchmarks in the paper's table order (then any others by name)."""
    return sorted(names, key=lambda b: (PAPER_BENCHMARKS.index(b) if b in PAPER_BENCHMARKS else 99, b))


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
TRAINING_COST = {"mlc": (1.0, 0.0), "lookahead_mlm": (1.0, 0.27), "lookahead_clm": (0.3, 0.56)}


def expected_training(router: str, pool: Pool, benchmarks: list[str], s: Settings) -> float:
    """A run's expected training time in relative units (what orders the lanes' queue)."""
    from harness import store
    from routers import build_router
    from routers.base import RouterContext

    built = build_router(router, RouterContext(models=pool.models, profile=s.profile))  # no weights yet
    cap = getattr(built, "settings", {}).get("cap_per_benchmark")
    items = sum(min(n, cap) if cap else n for n in (store.load(b, pool.models).n_items for b in benchmarks))
    base, per_candidate = TRAINING_COST.get(router, (1.0, 0.0))
    return items * (base + per_candidate * pool.size)


def train_in_lanes(todo: list[tuple[Pool, str]], s: Settings, states: dict, write) -> set[tuple[str, str]]:
    """Train every incomplete run of ``todo`` ``s.jobs`` at a time (harness.lanes); returns the
    (pool label, router) pairs trained, whose runs are then read, not evaluated again."""
    from harness import lanes

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
    path = cost.cost_path(run_file)
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
# The table


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _gflops(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _cost_cells(found: dict | None, benchmark: str) -> list[str]:
    if found is None:
        return [NOT_MEASURED] * 4
    per = found.get("per_benchmark", {}).get(benchmark)
    src = per if per else found  # the leaderboard holds pooled figures only
    return [_gflops(src.get("gflops")), _gflops(src.get("gflops_dense")),
            _num(found.get("latency_ms"), 1), _num(found.get("latency_p95_ms"), 1)]


def _reference_rows(pool: Pool, benchmark: str) -> list[list[str]]:
    refs = runner.references(benchmark, tuple(pool.models))
    zero = ["0", "0", "–", "–"]  # random and oracle run no model (the harness counts them zero)
    return [["random", _num(refs["random"]), "0.0", *zero], ["oracle", _num(refs["oracle"]), "100.0", *zero]]


def _router_row(router: str, state: dict, benchmark: str) -> list[str]:
    run, found = state.get("run"), state.get("cost")
    if run is None:
        return [router, NOT_RUN, NOT_RUN, "–", "–", "–", "–"]
    bench = run["benchmarks"].get(benchmark)
    if bench is None:  # a run over other benchmarks of this pool (training was off)
        return [router, NOT_RUN, NOT_RUN, *_cost_cells(found, benchmark)]
    return [router, _num(bench["score"]), _num(bench["normalized"], 1), *_cost_cells(found, benchmark)]


def pool_rows(pool: Pool, benchmark: str, states: dict[str, dict], routers: list[str]) -> list[list[str]]:
    """Rows (router, mu_o, mu_n, GFLOPs all, GFLOPs dense, p50 ms, p95 ms) of one pool on one benchmark."""
    if benchmark in pool.missing:
        return [[name] + [NOT_IN_CACHE] * 6 for name in ["random", "oracle", *routers]]
    rows = _reference_rows(pool, benchmark)
    return rows + [_router_row(r, states.get((pool.label, r), {}), benchmark) for r in routers]


HEAD = ["router", "mu_o", "mu_n", "GFLOPs/query (all)", "GFLOPs/query (dense)", "p50 ms", "p95 ms"]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def _cv_items(pool: Pool, states: dict, routers: list[str]) -> str:
    """What the pool's learned routers were cross-validated over (from their run files)."""
    seen = set()
    for r in routers:
        run = states.get((pool.label, r), {}).get("run")
        if run:
            seen.add(", ".join(f"{b} ({v['n_items']})" for b, v in run["benchmarks"].items()))
    if not seen:
        return "no run yet" if pool.available else "—"
    return "; ".join(sorted(seen))


def _missing_text(pool: Pool) -> str:
    """'b1, b2: lack m1, m2; b3: lacks m3' -- benchmarks lacking the same models grouped."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for bench, models in pool.missing.items():
        groups.setdefault(tuple(models), []).append(bench)
    return "; ".join(f"{', '.join(bs)}: {'lack' if len(bs) > 1 else 'lacks'} {', '.join(ms)}"
                     for ms, bs in groups.items())


def _pool_section(pools: list[Pool], states: dict, routers: list[str]) -> list[str]:
    rows = []
    for p in pools:
        missing = _missing_text(p) or "—"
        rows.append([str(p.size), pool_name(p), ", ".join(p.models), ", ".join(p.available) or "none",
                     missing, _cv_items(p, states, routers)])
    return _table(["T", "pool", "models (in order)", "benchmarks in cache", "not in cache",
                   "learned routers' cv items"], rows)


def _devices(states: dict) -> str:
    """The devices of the cost figures, and the 1-minute load average while they were timed (this
    machine is shared, so latency moves with the load)."""
    costs = [st["cost"] for st in states.values() if st.get("cost")]
    if not costs:
        return "none measured yet"
    devices = "; ".join(sorted({str(c.get("device", "?")) for c in costs}))
    loads = [float(c["load_1min"]) for c in costs if isinstance(c.get("load_1min"), (int, float))]
    return devices + (f" (1-min load average {min(loads):.1f}–{max(loads):.1f} while timed)" if loads else "")


def make_command(s: Settings) -> str:
    """The ``make scalability`` line that writes this table: defaults left out, the rest as variables."""
    default = Settings()
    parts = ["make scalability"]
    if s.sizes != default.sizes:
        parts.append(f"SIZES={','.join(map(str, s.sizes))}")
    if s.routers != default.routers:
        parts.append(f"SCALABILITY_ROUTERS='{' '.join(s.routers)}'")
    if s.benchmarks != default.benchmarks:
        parts.append(f"BENCHMARKS={','.join(s.benchmarks)}")
    for name, value in (("PROFILE", s.profile), ("SEED", s.seed), ("FOLDS", s.folds)):
        if value != getattr(default, name.lower()):
            parts.append(f"{name}={value}")
    if s.alternative != default.alternative:
        parts.append(f"SCALABILITY_ALT={s.alternative or 'none'}")
    return " ".join(parts)


def _header(s: Settings, states: dict) -> list[str]:
    return [
        "# Scalability: pool size T",
        "",
        f"Regenerate with `{make_command(s)}` (`routing-harness scalability`); this file is written by it "
        "and re-uses the run files in results/runs. Spec: paper notes, section 6.",
        "",
        f"- **Learned routers** ({', '.join(s.routers)}): profile **{s.profile}**, protocol **cv** "
        f"({s.folds} folds, seed {s.seed}) over the benchmarks of the pool that the cache has (listed "
        "per pool below), not the paper's training sets: the released cache has training responses only "
        "for paper5.",
        "- **mu_o**: each benchmark's native metric (AlpacaEval LC win rate, Arena-Hard BT win rate, "
        "MT-Bench mean score, accuracy, pass@1); **mu_n** = (mu_o − random) / (oracle − random) × 100, "
        "for that pool. random = mean of the candidates' own metrics; oracle = best candidate per item.",
        "- **GFLOPs per query**: mean over sampled test queries of that benchmark, each routed alone "
        "(harness.cost). *all* counts every matrix product including the attention score/value "
        "products; *dense* leaves those out (linear layers only, the convention the paper's figures "
        "appear to use). Random and oracle run no model and count zero.",
        f"- **Latency**: p50 / p95 ms per single query (batch 1) after warm-up, over the run's sampled "
        f"queries of all its benchmarks, on: {_devices(states)}. Not comparable with the paper's RTX 3090 "
        "figures.",
        f"- \"{NOT_IN_CACHE}\": the released cache lacks a model of the pool on that benchmark (listed "
        f"below); no substitute is scored. \"{NOT_RUN}\": no run file for that router, pool and profile "
        f"in results/runs yet. \"{NOT_MEASURED}\": no cost figures for that run yet.",
        "- In the released cache the 8-candidate pool exists only for AlpacaEval (MATH and HumanEval have "
        "at most 6 models), so **T=8 is studied on AlpacaEval only, under cv on its 805 items**; the "
        "routers of T=3 and T=5 are cross-validated over every benchmark listed for their pool.",
        "",
    ]


def _status(s: Settings, states: dict) -> list[str]:
    """One plain line on how much of the table is filled."""
    runs = sum(1 for st in states.values() if st.get("run"))
    if runs == len(states):
        return []
    return [f"**Status:** {runs} of {len(states)} learned-router runs (profile {s.profile}) exist; the "
            f"cells without a run say \"{NOT_RUN}\". `{make_command(s)}` trains them (hours on "
            "the cpu profile here); random and oracle need no training and are complete.", ""]


def _states_of(pools: list[Pool], states: dict) -> dict:
    labels = {p.label for p in pools}
    return {key: st for key, st in states.items() if key[0] in labels}


def render(s: Settings, pools: list[Pool], states: dict) -> str:
    """results/scalability.md: the pools of SIZES (the optional alternative has its own file)."""
    main, states = replace(s, alternative=None), _states_of(pools, states)
    lines = _header(main, states) + _status(main, states) + ["## Pools", ""]
    lines += _pool_section(pools, states, s.routers) + [""]
    for bench in s.benchmarks:
        adapter = get_benchmark(bench)
        rows = [[str(p.size), pool_name(p), *r] for p in pools for r in pool_rows(p, bench, states, s.routers)]
        lines += [f"## {adapter.title} ({adapter.metric})", ""] + _table(["T", "pool", *HEAD], rows) + [""]
    return "\n".join(lines)


def render_alternative(s: Settings, alts: list[Pool], states: dict) -> str:
    """results/scalability_<alternative>.md: the documented second pool, same conventions."""
    states = _states_of(alts, states)
    lines = [f"# Scalability: alternative pool `{s.alternative}`", "",
             f"Regenerate with `{make_command(s)}` (it also rewrites scalability.md); this file is written by "
             "it and re-uses the run files in results/runs. Conventions (mu_o, mu_n, both GFLOPs conventions, "
             "\"not in cache\", \"not run yet\") as in [scalability.md](scalability.md).", "",
             "- A second, documented pool: paper5 + gemma-2-9b-it (T=6). An 8-candidate pool with "
             "gemma-2-9b-it exists in the cache only for AlpacaEval and MT-Bench, and MATH/HumanEval hold "
             "at most 6 models, so this is the largest pool the cache has on the paper's three benchmarks "
             "(every benchmark but Arena-Hard).",
             f"- **Learned routers** ({', '.join(s.routers)}): profile **{s.profile}**, protocol **cv** "
             f"({s.folds} folds, seed {s.seed}) over the benchmarks the cache has for the pool.",
             f"- **Latency** p50 / p95 ms, batch 1, on: {_devices(states)}.", ""]
    lines += _status(s, states) + _pool_section(alts, states, s.routers) + [""]
    rows = [[get_benchmark(b).title, pool_name(p), *r] for p in alts for b in s.benchmarks
            for r in pool_rows(p, b, states, s.routers)]
    return "\n".join(lines + _table(["benchmark", "pool", *HEAD], rows) + [""])


def table_path() -> Path:
    return config.results_dir() / "scalability.md"


def alternative_path(name: str) -> Path:
    return config.results_dir() / f"scalability_{name}.md"


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
    from harness import data

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
    if alts:
        _say(f"wrote {alternative_path(s.alternative)}")
    _say(f"wrote {table_path()}")
    return table_path()
