"""Goal (harness core): scoring one routing decision on all seven benchmarks of paper5, data
already loaded, takes under 10 s on the 2-core machine. Prints the load and scoring times."""
from __future__ import annotations

import time

import numpy as np

from benchmarks import PAPER_BENCHMARKS, get_benchmark
from harness.core import store
from harness.core.pools import PAPER5


def main() -> None:
    t0 = time.perf_counter()
    datas = {b: store.load(b, PAPER5) for b in PAPER_BENCHMARKS}
    t_load = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    choices = {b: rng.integers(0, len(PAPER5), d.n_items) for b, d in datas.items()}
    get_benchmark("alpacaeval").score(datas["alpacaeval"], choices["alpacaeval"])  # resolve calibration once
    t1 = time.perf_counter()
    per = {}
    for b, d in datas.items():
        s = time.perf_counter()
        get_benchmark(b).score(d, choices[b])
        per[b] = time.perf_counter() - s
    t_score = time.perf_counter() - t1
    print(f"load paper5, 7 benchmarks (parsed cache): {t_load:.2f} s")
    print("score one routing decision: " + ", ".join(f"{b} {t:.3f}s" for b, t in per.items()))
    print(f"score one routing decision, all 7 benchmarks: {t_score:.2f} s (goal < 10 s)")


if __name__ == "__main__":
    main()
