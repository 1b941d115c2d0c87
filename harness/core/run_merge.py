"""Writing a run file so that it keeps every benchmark the leaderboard's rows point to it for.

A run file is named by the leaderboard's key and the seed, so a run of fewer benchmarks (``eval
ROUTER=oracle BENCHMARKS=gsm8k`` after a full run) writes the file that the other benchmarks' rows
still name. Replacing it would leave those rows pointing at a file without their benchmark (the
reports and ``cost`` then fail or skip them); a second file name would be counted by the reports as
a second seed. So the new run's benchmarks replace theirs in the file and the others are kept, each
kept entry carrying the config and provenance of the run that produced it (``earlier_run``), as the
rows themselves do. Imports: core only.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks import PAPER_BENCHMARKS
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, file_lock, read_json
from harness.core.normalize import average


def write_run(path: Path, run: dict[str, Any]) -> dict[str, Any]:
    """Write ``run`` to ``path``, merged with the benchmarks of the run file already there; returns
    what was written. Locked, so two runs of the same router on different benchmarks both land."""
    with file_lock(path):
        merged = merge(_existing(path), run, path.name)
        atomic_write_json(path, merged, compact=True)
    return merged


def _existing(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        old = read_json(path)
        return old if isinstance(old, dict) and isinstance(old.get("benchmarks"), dict) else None
    except HarnessError as exc:
        print(f"run file {path.name}: unreadable, replaced ({exc})", file=sys.stderr)
        return None


def merge(old: dict[str, Any] | None, new: dict[str, Any], label: str = "run file") -> dict[str, Any]:
    """``new`` plus the benchmarks of ``old`` that ``new`` did not run. Nothing is kept when the
    candidates differ (the kept choices would index other models)."""
    if not old or old.get("models") != new["models"]:
        return new
    kept = {b: e for b, e in old["benchmarks"].items() if b not in new["benchmarks"]}
    if not kept:
        return new
    earlier = {k: old.get(k) for k in ("config", "router_config", "provenance", "seconds")}
    # an entry kept twice keeps the run it came from
    kept = {b: e if "earlier_run" in e else {**e, "earlier_run": earlier} for b, e in kept.items()}
    benchmarks = {**kept, **new["benchmarks"]}
    order = sorted(benchmarks, key=lambda b: (PAPER_BENCHMARKS.index(b) if b in PAPER_BENCHMARKS
                                              else len(PAPER_BENCHMARKS), b))
    benchmarks = {b: benchmarks[b] for b in order}
    print(f"{label}: {', '.join(new['benchmarks'])} replaced; kept {', '.join(sorted(kept, key=order.index))} "
          "from the earlier run", file=sys.stderr)
    return {**new, "benchmarks": benchmarks, "kept_benchmarks": [b for b in order if b in kept],
            "average_normalized": average([float(e["normalized"]) for e in benchmarks.values()])}
