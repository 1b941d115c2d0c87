"""Goal (the researcher's loop): `make eval` of a reference or plug-in router that needs no torch
finishes in under 2 s warm, end to end, on the 2-core machine.

Runs `routing-harness eval --router fixed:Yi-1.5-34B-Chat` as a user would (a fresh process each
time, scratch results, paper5, all seven benchmarks) once cold and three times warm in a private
cache directory, prints each wall time, then a breakdown of one warm run measured in-process:
imports, loading the parsed tables, routing and scoring (cached scores), the printed intervals
(cached bootstrap draws), and publishing to the scratch board (run file, CSV, leaderboard.md).
Compare figures within one run: the machine is shared.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUTER = "fixed:Yi-1.5-34B-Chat"
ROOT = Path(__file__).resolve().parent.parent


def timed_cli(env: dict, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", "eval", "--router", ROUTER, *extra], env=env,
                   cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def breakdown(env: dict) -> list[tuple[str, float]]:
    code = f'''
import time
t0 = time.perf_counter()
from harness import api
from harness.core import runner, store
from harness.report import board
from routers import load_all
load_all()
t1 = time.perf_counter()
cfg = runner.EvalConfig(router="{ROUTER}", benchmarks=runner.parse_benchmarks("all"))
for b in cfg.benchmarks:
    store.load(b, ["Yi-1.5-34B-Chat", "Phi-3-medium-4k-instruct", "Llama-3.1-8B-Instruct",
                   "internlm2_5-20b-chat", "Qwen2.5-Coder-7B-Instruct"])
t2 = time.perf_counter()
results, run = runner.evaluate_run(cfg)
t3 = time.perf_counter()
api._with_intervals(api.Evaluation(results=results, run=run), 1000)
t4 = time.perf_counter()
runner.publish(run, results); board.render()
t5 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
'''
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.split()
    names = ["imports", "load parsed tables", "route + score (cached)", "intervals (cached draws)",
             "publish to scratch + leaderboard.md"]
    return list(zip(names, map(float, out[-5:])))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rh-bench-loop-") as tmp:
        env = dict(os.environ, HARNESS_CACHE_DIR=f"{tmp}/cache", HARNESS_SCRATCH_DIR=f"{tmp}/scratch")
        env.pop("HARNESS_RESULTS_DIR", None), env.pop("HARNESS_PUBLISH", None)
        cold = timed_cli(env)
        warm = [timed_cli(env) for _ in range(3)]
        warm_nowrite = [timed_cli(env, "--no-write") for _ in range(3)]
        print(f"eval {ROUTER} (paper5, 7 benchmarks): cold {cold:.2f} s; warm {', '.join(f'{w:.2f}' for w in warm)} s "
              f"(median {statistics.median(warm):.2f} s; goal < 2 s)")
        print(f"  --no-write: warm {', '.join(f'{w:.2f}' for w in warm_nowrite)} s "
              f"(median {statistics.median(warm_nowrite):.2f} s)")
        print("  warm breakdown: " + ", ".join(f"{n} {t:.2f} s" for n, t in breakdown(env)))


if __name__ == "__main__":
    main()
