"""Goal (learned routers): each cpu-profile cv run finishes within 45 minutes here (Lookahead: 60).

For every learned torch router this trains a few cpu-profile steps on real items, prints samples/s,
and extrapolates the full 5-fold cv time from the number of training items the cv folds give.
Completed runs in results/runs/ are also listed with their measured fit times.
``--lanes=N`` instead compares one process on all cores with N probe processes side by side, each on
its share of the cores: their summed samples/s over the single process's (whether training several
runs at once would pay).
``--precision`` compares bf16 autocast (the small and cpu profiles' default) with fp32: alternating
probes of each on the same items.
``--where`` profiles a probe (torch.profiler, 128 items after a warm-up probe) and prints the operators
that take the most time, with their input shapes: where a training step's time goes.
``--packing`` compares the padding-free forward (routers/packing.py, the default) with padded batches:
alternating 30-step probes of each, and the share of padding in the padded batches.
Usage: python bench/bench_training.py [--profile=cpu|small] [--options=key=value,...] [--lanes=N | --packing | --precision | --where]
       [router ...]
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import PAPER_BENCHMARKS
from harness.core import protocols, store
from harness.core.pools import PAPER5
from harness.core.runner import routing_data
from routers import build_router
from routers.base import RouterContext
from routers.neural import training_split

ROUTERS = ["mlc", "zooter", "routerdc", "lookahead_mlm", "lookahead_clm"]
PROBE_ITEMS = 80  # 5 steps of 16; the first (warm-up) is not timed
# --lanes / --packing: longer probes. Lanes start together, so one's loading overlaps the other's first
# steps; 5-step probes read 0.98-1.14x, these (30 steps, the first 8 left out) 1.10-1.18x.
LANE_ITEMS, LANE_SKIP = 480, 8


def measured_runs() -> None:
    """What finished cv runs actually took (their run files record each fold's fit)."""
    for path in sorted(Path("results/runs").glob("*__cv__*.json")):
        run = json.loads(path.read_text())
        folds = run.get("routing", {}).get("training", [])
        fit = sum(f.get("fit_seconds", 0) for f in folds)
        rates = [f.get("train_samples_per_s") or f.get("samples_per_s") for f in folds]
        rates = [r for r in rates if r]
        rate = f", {np.mean(rates):.1f} samples/s" if rates else ""
        if fit:
            print(f"measured {run['router']} ({run['profile']}, seed {run['seed']}): {len(folds)} folds, fit "
                  f"{fit / 60:.1f} min{rate}, whole run {run.get('seconds', 0) / 60:.1f} min "
                  f"(created {run.get('provenance', {}).get('created', '?')})")


def first_fold():
    data = routing_data({b: store.load(b, PAPER5) for b in PAPER_BENCHMARKS}, PAPER5)
    folds = protocols.cv_folds(data.benchmarks, 5, 0)
    return data, data.subset(np.flatnonzero(folds != 0))


def fitted_probe(name: str, profile: str, options: dict[str, str] | None, train_fold, items: int = PROBE_ITEMS,
                 skip: int = 1):
    """A router trained on ``items`` items, and its samples/s with the first ``skip`` steps left out."""
    probe = build_router(name, RouterContext(models=PAPER5, profile=profile, seed=0, options={
        **(options or {}), "max_train_items": items, "epochs": 1, "eval_every": 10**6}))
    probe.fit(train_fold)
    return probe, probe.history.step_rate(skip=skip)


def lanes(names: list[str], n: int, profile: str, options: dict[str, str] | None) -> None:
    """Samples/s of one process on every core against n probe processes side by side."""
    from harness.experiments.lanes import cores as count_cores, threads_per_lane

    cores, share = count_cores(), threads_per_lane(n)
    for name in names:
        single = _rates(name, 1, cores, profile, options)[0]
        side = _rates(name, n, share, profile, options)
        print(f"{name} ({profile}): one process of {cores} threads {single:.2f} samples/s; {n} processes of "
              f"{share} side by side {' + '.join(f'{r:.2f}' for r in side)} = {sum(side):.2f} "
              f"({sum(side) / single:.2f}x)", flush=True)


def _rates(name: str, n: int, threads: int, profile: str, options: dict[str, str] | None) -> list[float]:
    opts = ",".join(f"{k}={v}" for k, v in {**(options or {}), "num_threads": threads}.items())
    cmd = [sys.executable, __file__, "--rate-only=1", f"--profile={profile}", f"--options={opts}", name]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(n)]
    outs = [p.communicate()[0] for p in procs]
    return [float(line.split()[1]) for out in outs for line in out.splitlines() if line.startswith("RATE ")]


def packing(names: list[str], profile: str, options: dict[str, str] | None, rounds: int = 2) -> None:
    """Samples/s packed against padded, same probe and items, alternated to spread the machine's drift."""
    from routers.packing import Packing

    tokens = {"real": 0, "all": 0}
    original = Packing.of

    def counting(attention_mask):  # every padded batch a packed forward sees
        tokens["real"] += int(attention_mask.sum())
        tokens["all"] += attention_mask.numel()
        return original(attention_mask)

    _, train_fold = first_fold()
    for name in names:
        rates: dict[str, list[float]] = {"false": [], "true": []}
        tokens.update(real=0, all=0)
        Packing.of = staticmethod(counting)
        try:
            for _ in range(rounds):
                for packed in rates:
                    rates[packed].append(fitted_probe(name, profile, {**(options or {}), "packed": packed},
                                                      train_fold, LANE_ITEMS, LANE_SKIP)[1])
        finally:
            Packing.of = original
        padded, packed = float(np.mean(rates["false"])), float(np.mean(rates["true"]))
        share = 1 - tokens["real"] / tokens["all"] if tokens["all"] else 0.0
        print(f"{name} ({profile}): padded {padded:.2f} samples/s, packed {packed:.2f} ({packed / padded:.2f}x); "
              f"padding was {share:.0%} of the batches' tokens ({rounds} probes of each, "
              f"{LANE_ITEMS // 16} steps, first {LANE_SKIP} untimed)", flush=True)


def precision(names: list[str], profile: str, options: dict[str, str] | None, rounds: int = 2) -> None:
    """Samples/s under bf16 autocast against fp32, same probe and items, alternated."""
    _, train_fold = first_fold()
    for name in names:
        rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for _ in range(rounds):
            for kind in rates:
                rates[kind].append(fitted_probe(name, profile, {**(options or {}), "precision": kind},
                                                train_fold, 256, 3)[1])
        fp32, bf16 = float(np.mean(rates["fp32"])), float(np.mean(rates["bf16"]))
        print(f"{name} ({profile}): fp32 {fp32:.2f} samples/s, bf16 {bf16:.2f} ({bf16 / fp32:.2f}x; {rounds} "
              f"alternating probes of each, 16 steps, first 3 untimed)", flush=True)


def where(names: list[str], profile: str, options: dict[str, str] | None, rows: int = 15) -> None:
    """The operators that take a probe's time (self CPU time, grouped by input shape)."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    _, train_fold = first_fold()
    for name in names:
        fitted_probe(name, profile, options, train_fold, 48)  # warm-up: allocator, kernels, tokenizer
        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            fitted_probe(name, profile, options, train_fold, 128)
        table = prof.key_averages(group_by_input_shape=True)
        total = sum(e.self_cpu_time_total for e in table)
        print(f"{name} ({profile}, {options or 'defaults'}): probe of 128 items (90% trained), self CPU time {total / 1e6:.1f} s")
        for e in sorted(table, key=lambda e: -e.self_cpu_time_total)[:rows]:
            print(f"  {e.self_cpu_time_total / total:6.1%}  {e.key:<34} x{e.count:<5} {str(e.input_shapes)[:70]}")


def main(names: list[str], profile: str = "cpu", options: dict[str, str] | None = None) -> None:
    data, train_fold = first_fold()
    test_items = len(data) / 5
    for name in names:
        router = build_router(name, RouterContext(models=PAPER5, profile=profile, seed=0, options=dict(options or {})))
        train_idx, valid_idx = training_split(train_fold, router.settings, 0)
        started = time.perf_counter()
        probe, rate = fitted_probe(name, profile, options, train_fold)
        t0 = time.perf_counter()
        probe.predict(data.subset(np.arange(64)).queries())
        predict_rate = 64 / (time.perf_counter() - t0)
        s = router.settings
        steps = math.ceil(len(train_idx) / s["batch_size"]) * s["epochs"]
        passes = steps // s["eval_every"] + s["epochs"]  # validation passes: every eval_every steps, each epoch end
        fold = len(train_idx) * s["epochs"] / rate + (passes * len(valid_idx) + test_items) / predict_rate
        print(f"{name} ({profile}): train {rate:.1f} samples/s, predict {predict_rate:.1f} items/s; per fold "
              f"{len(train_idx)} training items x {s['epochs']} epochs + {passes} validation passes of "
              f"{len(valid_idx)} + {test_items:.0f} test items -> full 5-fold cv ~{5 * fold / 60:.0f} min "
              f"(probe {time.perf_counter() - started:.0f} s)", flush=True)
    measured_runs()


if __name__ == "__main__":
    args = sys.argv[1:]
    flags = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if a.startswith("--") and "=" in a}
    names = [a for a in args if not a.startswith("--")]
    chosen = dict(kv.split("=", 1) for kv in flags.get("--options", "").split(",") if kv)
    profile = flags.get("--profile", "cpu")
    if "--rate-only" in flags:  # one process of --lanes: long enough that the other's set-up is past
        print(f"RATE {fitted_probe(names[0], profile, chosen, first_fold()[1], LANE_ITEMS, LANE_SKIP)[1]}")
    elif "--packing" in args:
        packing(names or ["mlc", "lookahead_mlm"], profile, chosen)
    elif "--precision" in args:
        precision(names or ["mlc", "lookahead_mlm"], profile, chosen)
    elif "--where" in args:
        where(names or ["lookahead_mlm"], profile, chosen)
    elif "--lanes" in flags:
        lanes(names or ["mlc", "lookahead_clm", "lookahead_mlm"], int(flags["--lanes"]), profile, chosen)
    else:
        main(names or ROUTERS, profile, chosen)
