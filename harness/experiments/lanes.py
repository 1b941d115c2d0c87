"""Several evaluations side by side: one ``routing-harness eval`` process per lane, the cores split.

On a small CPU, one process does not keep its threads busy (small matrices, Python between the
kernels): here two 1-thread processes train 1.18x (MLC) and 1.10x (Lookahead-MLM) the samples/s of
one 2-thread process (``bench/bench_training.py --lanes=2``). Each lane is an ordinary ``eval`` run, so it writes its run
file and leaderboard rows as a sequential run would, resumes from the same fold caches, and differs
from one only in ``num_threads`` (a speed-only option: recorded in the run's config, not in its name
or cache keys). Lane output goes to a log file per run; the caller sees a line per start, finish and
minute.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.runner import EvalConfig

STATUS_EVERY = 60.0  # seconds between progress lines


@dataclass
class Job:
    cfg: EvalConfig
    label: str  # what progress lines call it
    log: Path
    weight: float = 1.0  # expected relative duration: longest first keeps the lanes even


@dataclass
class _Running:
    job: Job
    process: subprocess.Popen
    started: float = field(default_factory=time.monotonic)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_lane(lanes: int) -> int:
    return max(1, cores() // max(1, lanes))


def log_dir() -> Path:
    return config.parsed_cache_dir() / "logs"


def eval_command(cfg: EvalConfig, threads: int, router_modules: list[str] | None = None) -> list[str]:
    """The ``eval`` command line of ``cfg`` with ``num_threads`` set for its lane."""
    cmd = [sys.executable, "-m", "harness", "eval", "--router", cfg.router, "--pool", cfg.pool,
           "--benchmarks", ",".join(cfg.benchmarks), "--protocol", cfg.protocol, "--profile", cfg.profile,
           "--seed", str(cfg.seed), "--folds", str(cfg.folds)]
    for key, value in {**cfg.options, "num_threads": threads}.items():
        cmd += ["--option", f"{key}={value}"]
    for module in router_modules or []:
        cmd += ["--router-module", module]
    return cmd


def last_line(path: Path, tail: int = 4096) -> str:
    """The newest progress line of a log (tqdm rewrites its line with carriage returns)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - tail))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [s.strip() for s in text.replace("\r", "\n").split("\n") if s.strip()]
    return lines[-1][:160] if lines else ""


def run(jobs: list[Job], lanes: int, *, on_done: Callable[[Job], None] = lambda job: None,
        router_modules: list[str] | None = None, say: Callable[[str], None] = print) -> None:
    """Run ``jobs`` ``lanes`` at a time, longest (by weight) first; ``on_done`` after each success.

    A failed job stops new starts; the running ones finish (their work is kept), then a one-line
    error names the failed run and its log. Interrupting stops every lane; re-running resumes from
    the fold caches."""
    queue = sorted(jobs, key=lambda j: -j.weight)
    threads = threads_per_lane(lanes)
    running: list[_Running] = []
    failed: list[tuple[Job, int]] = []
    last_status = time.monotonic()
    try:
        while running or (queue and not failed):
            while queue and len(running) < lanes and not failed:
                job = queue.pop(0)
                job.log.parent.mkdir(parents=True, exist_ok=True)
                with open(job.log, "wb") as log:
                    process = subprocess.Popen(eval_command(job.cfg, threads, router_modules), stdout=log,
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                running.append(_Running(job, process))
                say(f"{job.label}: started in a lane of {threads} thread(s) (log: {job.log})")
            time.sleep(1.0)
            for lane in [r for r in running if r.process.poll() is not None]:
                running.remove(lane)
                minutes = (time.monotonic() - lane.started) / 60
                if lane.process.returncode == 0:
                    say(f"{lane.job.label}: done in {minutes:.1f} min")
                    on_done(lane.job)
                else:
                    failed.append((lane.job, lane.process.returncode))
                    say(f"{lane.job.label}: failed after {minutes:.1f} min: {last_line(lane.job.log)}")
            if running and time.monotonic() - last_status >= STATUS_EVERY:
                last_status = time.monotonic()
                for lane in running:
                    say(f"{lane.job.label} ({(last_status - lane.started) / 60:.0f} min): {last_line(lane.job.log)}")
    except BaseException:
        for lane in running:
            lane.process.terminate()
        for lane in running:
            lane.process.wait()
        raise
    if failed:
        job, code = failed[0]
        raise HarnessError(f"{job.label}: eval exited with {code}; see {job.log}"
                           + (f" ({len(queue)} run(s) not started)" if queue else ""))
