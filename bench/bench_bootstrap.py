"""Goal (issue 7): the paired bootstrap of one router on all seven benchmarks of paper5 with 1000
resamples, references (five candidates, random, oracle) recomputed in every resample, takes under
30 s on the 2-core machine. Nothing is read from or written to the draws' disk cache."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from benchmarks import PAPER_BENCHMARKS
from harness.report import bootstrap as stats
from harness.report import runs as report_runs
from harness.core import store
from harness.core.pools import PAPER5

RESAMPLES = 1000


def synthetic_run(seed: int) -> report_runs.Run:
    """A router choosing uniformly at random (seeded), as a run file would hold it."""
    rng = np.random.default_rng(seed)
    benches = {}
    for b in PAPER_BENCHMARKS:
        data = store.load(b, PAPER5)
        benches[b] = report_runs.RunBench(choice=rng.integers(0, len(PAPER5), data.n_items), ids=list(data.ids),
                                    score=math.nan, normalized=math.nan, expected=False)
    return report_runs.Run(path=Path("<bench>"), router="bench", pool="paper5", models=list(PAPER5), protocol="cv",
                     profile="cpu", seed=seed, benchmarks=benches, raw={})


def main() -> None:
    first, second = synthetic_run(0), synthetic_run(1)
    boot = stats.Bootstrap(stats.Settings(resamples=RESAMPLES, seed=0), cache=False)
    per = {}
    t0 = time.perf_counter()
    for b in PAPER_BENCHMARKS:
        s = time.perf_counter()
        boot.references(b, list(PAPER5))
        boot.mu_o(b, list(PAPER5), first.benchmarks[b].choice)
        per[b] = time.perf_counter() - s
    stats.group_stats([first], boot)
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    stats.group_stats([second], boot)  # references already drawn: the cost of each further router
    more = time.perf_counter() - t1
    print("bootstrap per benchmark (references + one router): "
          + ", ".join(f"{b} {t:.2f}s" for b, t in per.items()))
    print(f"bootstrap, paper5, 7 benchmarks, {RESAMPLES} resamples, references + one router: "
          f"{total:.2f} s (goal < 30 s)")
    print(f"each further router: {more:.2f} s")


if __name__ == "__main__":
    main()
