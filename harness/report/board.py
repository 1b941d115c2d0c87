"""``results/leaderboard.md``: the paper's main-table shape rendered from ``results/leaderboard.csv``
(per pool and protocol, mu_o / mu_n per benchmark and the average mu_n), with the bootstrap's
intervals and tie marks (:mod:`harness.report.ranking`) where run files exist.
Imports: core, report."""
from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from pathlib import Path

from benchmarks import PAPER_BENCHMARKS, get_benchmark
from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_text
from harness.core.leaderboard import read_rows
from harness.core.pools import POOLS
from harness.report import ranking, skill

REFERENCE_ORDER = ["random", "oracle"]
FLAG = "⚑"
FLAG_NOTE = (f"{FLAG}: a fold of the run flagged its training (e.g. a response objective that never beat "
             "predicting each token from its position alone); the run file's `flags` (and each fold's under `routing.training`) say what.")


def run_flags(run_file: str) -> list[str]:
    """The training warnings a run file records: its summary's, else each fold's (older runs)."""
    path = config.results_dir() / run_file
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if run.get("flags") is not None:
        return list(run["flags"])
    return [f for t in run.get("routing", {}).get("training") or [] for f in t.get("flags") or []]

def md_path() -> Path:
    return config.results_dir() / "leaderboard.md"


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:.{digits}f}"


def backed_rows(rows: list[dict]) -> list[dict]:
    """Rows whose run file has been deleted are left off the board, said in one line: a row shows
    only what a run file backs (rows without a run file, e.g. written by hand, are kept)."""
    root = config.results_dir()
    gone = sorted({r["run_file"] for r in rows if r.get("run_file") and not (root / r["run_file"]).exists()})
    if gone:
        print(f"warning: {root / 'leaderboard.csv'}: {len(gone)} run file(s) its rows name are missing "
              f"(first: {gone[0]}); those rows are left off leaderboard.md", file=sys.stderr)
    return [r for r in rows if r.get("run_file") not in gone]


def render(path: Path | None = None) -> str:
    """Write leaderboard.md: per pool and protocol, mu_o / mu_n per benchmark and the average mu_n."""
    rows = backed_rows(read_rows())
    annotations = _annotations()  # bootstrap intervals and tie marks, from the run files
    skill_rows = _skills(annotations)  # learned routers against their protocol's single-model reference
    groups: dict[tuple[str, str], dict[tuple[str, str], dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    references: dict[str, dict[tuple[str, str], dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        entry = (row["router"], row["profile"])
        if row["protocol"] == "none":
            references[row["pool"]][entry][row["benchmark"]] = row
        else:
            groups[(row["pool"], row["protocol"])][entry][row["benchmark"]] = row
    for pool in references:
        if not any(p == pool for p, _ in groups):
            groups[(pool, "none")] = defaultdict(dict)
    lines = ["# Router leaderboard", "",
             "mu_o: the benchmark's native metric; mu_n: normalized, 0 = random, 100 = oracle of the same "
             "pool and items. Avg: mean mu_n over the benchmarks shown (marked * when a row lacks some). "
             "Reference routers (random, oracle, fixed) learn nothing and appear under every protocol. "
             "Regenerate with `make leaderboard`; per-run detail in `results/runs/`.", ""]
    for (pool, protocol) in sorted(groups, key=lambda g: (g[0] != "paper5", g)):
        entries = {**references.get(pool, {}), **groups[(pool, protocol)]}
        benches = [b for b in PAPER_BENCHMARKS if any(b in e for e in entries.values())]
        benches += sorted({b for e in entries.values() for b in e} - set(benches))
        title = f"## Pool `{pool}`" + ("" if protocol == "none" else f", protocol `{protocol}`")
        lines += [title, ""]
        header = ["Router", "Profile"]
        for b in benches:
            header += [f"{_title(b)} mu_o", "mu_n"]
        header += ["Avg mu_n", "GFLOPs", "Latency ms"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        pool_models = POOLS.get(pool, pool.split(","))
        seeds = {e: _seed_group(annotations, pool, protocol, *e) for e in entries}
        averages = {e: _average(by_bench, seeds[e], benches) for e, by_bench in entries.items()}
        flagged = False
        for (router, profile), by_bench in sorted(entries.items(),
                                                  key=lambda kv: _row_order(kv, pool_models, averages[kv[0]])):
            files = {r["run_file"] for r in by_bench.values() if r.get("run_file")}
            mark = f" {FLAG}" if any(run_flags(f) for f in sorted(files)) else ""
            flagged = flagged or bool(mark)
            cells = [router + mark, profile]
            values = []
            group = seeds[(router, profile)]
            for b in benches:
                row = by_bench.get(b)
                score, norm = (_num(row["score"]), _num(row["normalized"])) if row else (math.nan, math.nan)
                if group is not None and b in group.point_mu_n:  # a row is its seed group: the mean over seeds
                    score, norm = group.point_mu_o[b], group.point_mu_n[b]
                    cells.append(_fmt(score, 2 if b == "mtbench" else 1))
                elif row and row.get("ci_low") not in (None, ""):
                    cells.append(f"{_fmt(score)} [{_fmt(_num(row['ci_low']))}, {_fmt(_num(row['ci_high']))}]")
                else:
                    cells.append(_fmt(score, 2 if b == "mtbench" else 1))
                cells.append(_fmt(norm))
                if row:
                    values.append(norm)
            avg = averages[(router, profile)]
            partial = "*" if len(values) < len(benches) else ""
            suffix = annotations.avg_suffix(pool, protocol, router, profile) if annotations else ""
            cells.append(_fmt(avg) + partial + suffix if values else "–")
            any_row = next(iter(by_bench.values()))
            cells += [_fmt(_num(any_row.get("gflops")), 3), _fmt(_num(any_row.get("latency_ms")), 2)]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", FLAG_NOTE, ""] if flagged else [""]
        lines += annotations.section(pool, protocol) if annotations else []
        lines += skill.section(skill_rows.get((pool, protocol), []), protocol, annotations.settings.resamples) \
            if annotations else []
    text = "\n".join(lines)
    atomic_write_text(path or md_path(), text)
    return text


def _annotations() -> ranking.LeaderboardAnnotations | None:
    """Intervals and tie marks from the run files, or None (with a one-line reason) when they can't be bootstrapped."""
    try:
        return ranking.leaderboard_annotations()
    except HarnessError as exc:
        print(f"leaderboard: no intervals ({exc})", file=sys.stderr)
        return None


def _skills(annotations: ranking.LeaderboardAnnotations | None) -> dict:
    """Skill beyond the task per (pool, protocol) (:mod:`harness.report.skill`), or none with a reason."""
    try:
        return skill.skills(annotations.stats, annotations.settings) if annotations else {}
    except HarnessError as exc:
        print(f"leaderboard: no skill figures ({exc})", file=sys.stderr)
        return {}


def _title(benchmark: str) -> str:
    try:
        return get_benchmark(benchmark).title
    except HarnessError:
        return benchmark


def _seed_group(annotations: ranking.LeaderboardAnnotations | None, pool: str, protocol: str, router: str,
                profile: str):
    """The run files of several seeds behind a row, when there are: the row is then their mean (the
    same definition of a row as the interval table, the ranking and the page)."""
    group = annotations.group(pool, protocol, router, profile) if annotations else None
    return group if group is not None and len(group.runs) > 1 else None


def _average(by_bench: dict[str, dict], group, benches: list[str]) -> float:
    values = [group.point_mu_n[b] if group is not None and b in group.point_mu_n else _num(r["normalized"])
              for b, r in by_bench.items() if b in benches]
    values = [v for v in values if v == v]
    return sum(values) / len(values) if values else math.nan


def _row_order(item, pool_models: list[str], average: float) -> tuple:
    (router, profile), by_bench = item
    if router in REFERENCE_ORDER:
        return (0, REFERENCE_ORDER.index(router), router)
    if router.startswith("fixed:"):
        model = router.partition(":")[2]
        return (1, pool_models.index(model) if model in pool_models else len(pool_models), router)
    return (2, -average if average == average else math.inf, router)
