"""The leaderboard file ``results/leaderboard.csv``: long format, one row per router x pool x protocol
x profile x benchmark; rows replaced by key, the file replaced atomically under a lock. Its Markdown
rendering is :mod:`harness.report.board`, called by whoever publishes (the CLI, :mod:`harness.api`).
Imports: core only."""
from __future__ import annotations

import csv
from pathlib import Path

from benchmarks import PAPER_BENCHMARKS
from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_text, csv_text, file_lock

COLUMNS = [
    "router", "pool", "protocol", "profile", "seed", "benchmark", "metric", "score", "normalized",
    "ci_low", "ci_high", "n_items", "n_dropped", "gflops", "gflops_dense", "latency_ms",
    "latency_p95_ms", "router_params", "activated_params_b", "commit", "data_manifest", "created",
    "run_file", "conventions", "usd_total", "usd_per_item",  # scoring rules; dollars (routing-harness costcurve)
]
KEY = ("router", "pool", "protocol", "profile", "benchmark")


def csv_path() -> Path:
    return config.results_dir() / "leaderboard.csv"


def read_rows(path: Path | None = None) -> list[dict]:
    path = path or csv_path()
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in KEY if c not in (reader.fieldnames or [])]
        if missing:
            raise HarnessError(f"{path}: not a leaderboard file (missing columns {', '.join(missing)})")
        return list(reader)


def update(new_rows: list[dict]) -> None:
    """Replace the rows with the same key (a re-run never duplicates), write atomically."""
    with file_lock(csv_path()):  # two runs (two terminals) may finish at the same moment
        _update(new_rows)


def _update(new_rows: list[dict]) -> None:
    keys = {tuple(str(r[k]) for k in KEY) for r in new_rows}
    kept = [r for r in read_rows() if tuple(r[k] for k in KEY) not in keys]
    # earlier cost figures survive a re-run of the scores, and vice versa
    previous = {tuple(r[k] for k in KEY): r for r in read_rows()}
    merged = []
    for row in new_rows:
        old = previous.get(tuple(str(row[k]) for k in KEY), {})
        merged.append({**{c: old.get(c) for c in COLUMNS if c not in row}, **row})
    rows = sorted(kept + merged, key=_sort_key)
    atomic_write_text(csv_path(), csv_text(rows, COLUMNS))


def set_many(updates: list[tuple[dict, dict]]) -> int:
    """Fill columns (cost figures) of the existing rows matching each ``(match, values)``, in one
    atomic write; returns the rows changed."""
    with file_lock(csv_path()):
        return _set_many(updates)


def _set_many(updates: list[tuple[dict, dict]]) -> int:
    rows = read_rows()
    changed = 0
    for row in rows:
        for match, values in updates:
            if all(str(row.get(k)) == str(v) for k, v in match.items()):
                row.update({k: ("" if v is None else v) for k, v in values.items()})
                changed += 1
    if changed:
        atomic_write_text(csv_path(), csv_text(sorted(rows, key=_sort_key), COLUMNS))
    return changed


def _sort_key(row: dict) -> tuple:
    bench = row["benchmark"]
    order = PAPER_BENCHMARKS.index(bench) if bench in PAPER_BENCHMARKS else len(PAPER_BENCHMARKS)
    return (row["pool"], row["protocol"], row["profile"], row["router"], order, bench)
