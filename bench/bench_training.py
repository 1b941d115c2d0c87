"""Goal (learned routers): each cpu-profile cv run finishes within 45 minutes here (Lookahead: 60).

For every learned torch router this trains a few cpu-profile steps on real items, prints samples/s,
and extrapolates the full 5-fold cv time from the number of training items the cv folds give.
Completed runs in results/runs/ are also listed with their measured fit times.
Usage: python bench/bench_training.py [router ...]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import PAPER_BENCHMARKS
from harness import protocols, store
from harness.pools import PAPER5
from harness.runner import routing_data
from routers import build_router
from routers.base import RouterContext
from routers.neural import training_split

ROUTERS = ["mlc", "zooter", "routerdc", "lookahead_mlm", "lookahead_clm"]
PROBE_ITEMS = 48


def measured_runs() -> None:
    for path in sorted(Path("results/runs").glob("*__cv__cpu__*.json")):
        run = json.loads(path.read_text())
        folds = run.get("routing", {}).get("training", [])
        fit = sum(f.get("fit_seconds", 0) for f in folds)
        rate = [f["samples_per_s"] for f in folds if f.get("samples_per_s")]
        if fit:
            print(f"measured {run['router']}: {len(folds)} folds, fit {fit / 60:.1f} min, "
                  f"{np.mean(rate):.1f} samples/s, whole run {run.get('seconds', 0) / 60:.1f} min")


def main(names: list[str]) -> None:
    data = routing_data({b: store.load(b, PAPER5) for b in PAPER_BENCHMARKS}, PAPER5)
    folds = protocols.cv_folds(data.benchmarks, 5, 0)
    train_fold = data.subset(np.flatnonzero(folds != 0))
    for name in names:
        router = build_router(name, RouterContext(models=PAPER5, profile="cpu", seed=0))
        n_train = len(training_split(train_fold, router.settings, 0)[0])
        probe = build_router(name, RouterContext(models=PAPER5, profile="cpu", seed=0, options={
            "max_train_items": PROBE_ITEMS, "epochs": 1, "eval_every": 10**6}))
        started = time.perf_counter()
        probe.fit(train_fold)
        rate = probe.history.samples / probe.history.seconds
        t0 = time.perf_counter()
        probe.predict(data.subset(np.arange(64)).queries())
        predict_rate = 64 / (time.perf_counter() - t0)
        epochs = router.settings["epochs"]
        estimate = 5 * (n_train * epochs / rate + len(data) / 5 / predict_rate)
        print(f"{name}: train {rate:.1f} samples/s, predict {predict_rate:.1f} items/s, {n_train} training "
              f"items x {epochs} epochs per fold -> full cv ~{estimate / 60:.0f} min "
              f"(probe {time.perf_counter() - started:.0f} s)", flush=True)
    measured_runs()


if __name__ == "__main__":
    main(sys.argv[1:] or ROUTERS)
