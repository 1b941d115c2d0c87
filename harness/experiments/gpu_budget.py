"""``make gpu-budget``: the learned routers at the paper's budget on one lent GPU, in one short loan.

Trains ``mlc`` and ``lookahead_mlm``, then ``lookahead_clm`` when the time left allows, under cv on
paper5 with the offline backbones (profile ``gpu``: MiniLM and SmolLM2-135M-Instruct, all layers,
m = 64, the paper's epochs, batch 64 and lr 5e-5, bf16 autocast and TF32; the CLM's joint pass falls
back to separate sequences past ``joint_mask_mb``). Each run writes its run file (every fold's
training summary records the device, GPU name, precision and loss curves) and its leaderboard rows;
then each run's router is costed (``results/cost/<run>.json`` and the rows' cost columns).
``results/gpu_budget.md`` lists what ran, its wall time and average mu_n.

It runs unchanged on a CPU with ``--profile smoke`` (tiny random backbones; the test does this).
Usage: python -m harness.experiments.gpu_budget [--profile=gpu] [--benchmarks=all] [--folds=5]
       [--budget-s=600] [--routers=mlc,lookahead_mlm,lookahead_clm]
Imports: core, cost, experiments.scalability_plan (which benchmarks the cache has for a pool) and
``routers``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import PAPER_BENCHMARKS
from harness.core import config, provenance, runner
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, atomic_write_text

REQUIRED = ("mlc", "lookahead_mlm")
OPTIONAL = ("lookahead_clm",)  # trained only while the time left exceeds its estimate


@dataclass
class BudgetSettings:
    profile: str = "gpu"
    pool: str = "paper5"
    benchmarks: tuple[str, ...] = tuple(PAPER_BENCHMARKS)
    folds: int = 5
    seed: int = 0
    routers: tuple[str, ...] = (*REQUIRED, *OPTIONAL)
    budget_s: float = 600.0  # the whole command, training and costing
    # the CLM's share of the loan as a multiple of the MLM run's time (on a GPU its 30 layers and
    # responses make it ~1.5x the MLM run; the estimate gates it, it does not stop it)
    clm_factor: float = 1.5
    cost_sample: int = 8  # queries per benchmark costed (FLOPs and latency)
    skipped: dict[str, str] = field(default_factory=dict)
    adjusted: dict[str, str] = field(default_factory=dict)  # router -> settings changed to fit the pool


def _check(s: BudgetSettings) -> None:
    from routers.profiles import check_profile

    check_profile(s.profile)
    unknown = [r for r in s.routers if r not in (*REQUIRED, *OPTIONAL)]
    if unknown:
        raise HarnessError(f"gpu-budget: --routers {','.join(unknown)}: use some of "
                           f"{', '.join((*REQUIRED, *OPTIONAL))}")


def _fits(router: str, s: BudgetSettings, spent: dict[str, float], elapsed: float) -> str | None:
    """None when ``router`` should run now; else why it is skipped."""
    if router not in OPTIONAL or "lookahead_mlm" not in spent:
        return None
    estimate = s.clm_factor * spent["lookahead_mlm"]
    left = s.budget_s - elapsed
    if estimate > left:
        return f"estimated {estimate:.0f} s (x{s.clm_factor} the MLM run) > {left:.0f} s left of {s.budget_s:.0f}"
    return None


def fitting_span(query_len: int, n_models: int, span: int, positions: int) -> int:
    """The largest Lookahead-MLM span <= ``span`` whose straight layout (query + T spans of span + 1)
    fits the backbone's positions."""
    return min(span, (positions - query_len) // n_models - 1)


def router_options(router: str, s: BudgetSettings, models: list[str]) -> dict[str, Any]:
    """Settings changed so the router fits the pool: at T = 8 the gpu profile's m = 64 spans need
    180 + 8 x 65 positions, more than MiniLM's 512, so m is cut to what fits (recorded and said)."""
    if router != "lookahead_mlm":
        return {}
    from routers.backbones import max_positions
    from routers.profiles import settings

    cfg = settings(s.profile, "classifier", "lookahead_mlm")
    limit = max_positions(cfg["backbone"])
    if not limit:
        return {}
    span = fitting_span(cfg["max_query_len"], len(models), cfg["span"], limit)
    if span == cfg["span"]:
        return {}
    if span < 1:
        raise HarnessError(f"gpu-budget: lookahead_mlm cannot fit {len(models)} candidates in {limit} positions")
    s.adjusted[router] = (f"span={span} (profile: {cfg['span']}; {cfg['max_query_len']} + {len(models)} x "
                          f"{cfg['span'] + 1} positions exceed the backbone's {limit})")
    return {"span": span}  # max_response_len follows span


def pool_benchmarks(s: BudgetSettings, models: list[str]) -> list[str]:
    """The requested benchmarks whose cache has every model of the pool (paper8: AlpacaEval only)."""
    from harness.experiments.scalability_plan import make_pool

    available = make_pool(models, list(s.benchmarks)).available
    if not available:
        raise HarnessError(f"gpu-budget: no benchmark of {', '.join(s.benchmarks)} has every model of pool {s.pool}")
    return available


def train(router: str, s: BudgetSettings) -> dict[str, Any]:
    from harness.core.pools import resolve_pool

    _, models = resolve_pool(s.pool)
    cfg = runner.EvalConfig(router=router, pool=s.pool, benchmarks=pool_benchmarks(s, models), protocol="cv",
                            profile=s.profile, seed=s.seed, folds=s.folds, options=router_options(router, s, models))
    started = time.perf_counter()
    results = runner.evaluate(cfg)
    seconds = time.perf_counter() - started
    avg = sum(r.normalized for r in results) / len(results)
    # an adjusted router's run is named by its options too (profile label "gpu(span=40)")
    return {"router": router, "seconds": round(seconds, 1), "avg_mu_n": round(avg, 2),
            "run_file": "runs/" + runner.run_file_name(router, s.pool, "cv", runner.profile_label(cfg), s.seed)}


def cost(run: dict[str, Any], s: BudgetSettings) -> dict[str, Any]:
    """Cost this run's router (its fitted fold-0 model) and fill its leaderboard rows' cost columns."""
    from harness.core import leaderboard
    from harness.cost.runs import cost_path, measure_run, row_updates

    rows = [r for r in leaderboard.read_rows() if r["run_file"] == run["run_file"]]
    if not rows:
        raise HarnessError(f"gpu-budget: no leaderboard rows for {run['run_file']}")
    row = rows[0]
    started = time.perf_counter()
    result = measure_run(row, sample_per_benchmark=s.cost_sample)
    atomic_write_json(cost_path(row["run_file"]), result)
    leaderboard.set_many(row_updates(result, (row["router"], row["pool"], row["protocol"], row["profile"])))
    return {"gflops": result["gflops"], "latency_ms": round(result["latency_ms"], 2), "weights": result["weights"],
            "cost_seconds": round(time.perf_counter() - started, 1)}


def run(s: BudgetSettings) -> Path:
    _check(s)
    started = time.perf_counter()
    done: list[dict[str, Any]] = []
    spent: dict[str, float] = {}
    for router in s.routers:
        why = _fits(router, s, spent, time.perf_counter() - started)
        if why:
            s.skipped[router] = why
            print(f"gpu-budget: {router} skipped: {why}", file=sys.stderr)
            continue
        print(f"gpu-budget: training {router} (profile {s.profile}, cv, {s.pool})", file=sys.stderr, flush=True)
        result = train(router, s)
        spent[router] = result["seconds"]
        result.update(cost(result, s))
        done.append(result)
    total = time.perf_counter() - started
    path = config.results_dir() / "gpu_budget.md"
    atomic_write_text(path, render(s, done, total))
    return path


def _hardware(run_file: str) -> str:
    from harness.core.io import read_json

    folds = read_json(config.results_dir() / run_file).get("routing", {}).get("training", [])
    hw = folds[0].get("hardware", {}) if folds else {}
    return f"{hw.get('gpu') or hw.get('device', '?')}, {hw.get('precision', '?')}"


def render(s: BudgetSettings, done: list[dict[str, Any]], total: float) -> str:
    stamp = provenance.stamp()
    lines = [f"# GPU budget run: profile `{s.profile}`, pool {s.pool}, cv ({s.folds} folds)", "",
             f"Regenerate: `make gpu-budget` (profile gpu; `GPU_BUDGET_PROFILE=smoke` runs it on a CPU). Code "
             f"{stamp['commit']}, data manifest {stamp['data_manifest']}, written {stamp['created']}.", "",
             f"Whole command: {total:.0f} s (budget {s.budget_s:.0f} s).", "",
             "| Router | Hardware | Train + predict (s) | Avg mu_n | GFLOPs/query | Latency (ms) | Cost (s) | Run file |",
             "|---|---|---|---|---|---|---|---|"]
    for r in done:
        lines.append(f"| {r['router']} | {_hardware(r['run_file'])} | {r['seconds']:.0f} | {r['avg_mu_n']:.1f} | "
                     f"{r['gflops']:.3g} | {r['latency_ms']} | {r['cost_seconds']:.0f} | `{r['run_file']}` |")
    for router, why in s.skipped.items():
        lines.append(f"| {router} | – | not run: {why} | – | – | – | – | – |")
    if s.adjusted:
        lines += ["", "Changed to fit the pool (recorded in the run files):"]
        lines += [f"- {router}: {why}." for router, why in s.adjusted.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    benches = flags.get("benchmarks", "all")
    s = BudgetSettings(profile=flags.get("profile", "gpu"), pool=flags.get("pool", "paper5"),
                       benchmarks=tuple(PAPER_BENCHMARKS) if benches == "all" else tuple(benches.split(",")),
                       folds=int(flags.get("folds", 5)), budget_s=float(flags.get("budget-s", 600)))
    if "routers" in flags:
        s.routers = tuple(r for r in flags["routers"].split(",") if r)
    try:
        print(run(s).read_text())
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
