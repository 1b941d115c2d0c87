"""Run files as the reports read them (``results/runs/*.json``), and what one board row is: the run
files of one (router, pool, protocol, profile) that differ only by seed. Every table and the page
group runs with :func:`group_runs`. Imports: core."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import read_json

GroupKey = tuple[str, str, str, str]  # (router, pool, protocol, profile)



@dataclass
class RunBench:
    choice: np.ndarray
    ids: list[str]
    score: float
    normalized: float
    expected: bool  # the random router: its score is the candidates' mean, not its draw


@dataclass
class Run:
    path: Path
    router: str
    pool: str
    models: list[str]
    protocol: str
    profile: str
    seed: int
    benchmarks: dict[str, RunBench]
    raw: dict[str, Any]

    @property
    def key(self) -> GroupKey:
        return (self.router, self.pool, self.protocol, self.profile)


def read_run(path: Path) -> Run:
    return run_from_dict(read_json(path), path)


def run_from_dict(raw: dict[str, Any], path: Path | str = "<in memory>") -> Run:
    """A run record (as :func:`harness.core.runner.evaluate_run` returns it, or read from a file)."""
    files = (raw.get("provenance") or {}).get("benchmark_files") if isinstance(raw, dict) else None
    if files:  # benchmarks of one's own: re-read from their files, when still there unchanged
        from benchmarks import custom

        custom.ensure_registered(files)
    try:
        benches = {
            name: RunBench(choice=np.asarray(b["choice"], dtype=np.int64), ids=[str(i) for i in b["ids"]],
                           score=float(b["score"]), normalized=float(b["normalized"]),
                           expected="estimate" in (b.get("details") or {}))
            for name, b in raw["benchmarks"].items()
        }
        return Run(path=Path(path), router=raw["router"], pool=raw["pool"], models=list(raw["models"]),
                   protocol=raw["protocol"], profile=str(raw["profile"]), seed=int(raw["seed"]),
                   benchmarks=benches, raw=raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise HarnessError(f"{path}: not a run file ({type(exc).__name__}: {exc})") from None


def runs_dir(results: Path | None = None) -> Path:
    return (results or config.results_dir()) / "runs"


def load_runs(results: Path | None = None) -> list[Run]:
    return [read_run(p) for p in sorted(runs_dir(results).glob("*.json"))]


def group_runs(runs: Iterable[Run]) -> dict[GroupKey, list[Run]]:
    """Run files that differ only by seed, sorted by seed."""
    groups: dict[GroupKey, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.key, []).append(run)
    return {k: sorted(v, key=lambda r: r.seed) for k, v in sorted(groups.items())}
