"""Paper against official scoring conventions, side by side (``results/conventions.md``).

Every run file keeps its per-item choices, so each run is re-scored under both conventions of
:mod:`harness.core.conventions` whatever it was recorded under: the benchmarks whose rules differ
(Arena-Hard, MT-Bench) are re-scored and re-normalized (random and oracle under the same rules; the
official oracle picks by the official per-item ground truth), the others are kept. The paired
bootstrap then gives each convention its own intervals and tie marks, and the report lists, per
pool and protocol, every router whose rank or tie mark differs between the two.

:class:`RulesBootstrap` is the bootstrap under a convention: the official scorers of the benchmarks
whose rules differ, the plain :class:`~harness.report.bootstrap.Bootstrap` (and its cached draws)
elsewhere. Imports: core and the report modules below it.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks import get_benchmark
from benchmarks.base import BenchmarkData
from harness.core import config, conventions, store
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_text
from harness.core.normalize import normalized
from harness.report.bootstrap import Bootstrap, GroupStats, Settings, group_stats
from harness.report.ranking import display_groups, tie_marks
from harness.report.runs import GroupKey, Run, group_runs, load_runs

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
MARK_TEXT = {"leader": "▲", "tied": "≈", "behind": "", None: "–"}


def official_scorer(benchmark: str, data: BenchmarkData) -> Scorer | None:
    """(choice, counts) -> mu_o per resample under the official rules, for the benchmarks whose
    rules differ; None elsewhere (their paper scorer applies)."""
    if benchmark == "arenahard":
        from benchmarks.arenahard import battle_counts, closed_form_winrate

        parts = battle_counts(data.native["game1"], data.native["game2"], "official")
    elif benchmark == "mtbench":
        from benchmarks.mtbench import turn_parts

        parts = turn_parts(data.native["turn1"], data.native["turn2"], "official")
    else:
        return None
    rows = np.arange(data.n_items)

    def score(choice: np.ndarray, counts: np.ndarray) -> np.ndarray:
        sums = [counts @ part[rows, choice] for part in parts]  # each part summed over the drawn items
        return closed_form_winrate(*sums) if benchmark == "arenahard" else sums[0] / sums[1]
    return score


class RulesBootstrap(Bootstrap):
    """The paired bootstrap under ``rules``: same item resamples; official scorers and the official
    oracle where the rules differ."""

    def __init__(self, settings: Settings = Settings(), rules: str = "paper", cache: bool = True):
        super().__init__(settings, cache)
        self.rules = conventions.check(rules)

    def _differs(self, benchmark: str) -> bool:
        return self.rules != "paper" and conventions.differs(get_benchmark(benchmark))

    def mu_o(self, benchmark: str, models: list[str], choice: np.ndarray) -> np.ndarray | None:
        key = (benchmark, tuple(models))
        if self._differs(benchmark) and key not in self._scorers:
            self._scorers[key] = official_scorer(benchmark, store.load(benchmark, models))
        return super().mu_o(benchmark, models, choice)

    def references(self, benchmark: str, models: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
        if not self._differs(benchmark):
            return super().references(benchmark, models)
        data = store.load(benchmark, models)
        fixed = [self.mu_o(benchmark, models, data.fixed_choice(j)) for j in range(len(models))]
        oracle = self.mu_o(benchmark, models, conventions.oracle_choice(get_benchmark(benchmark), data, self.rules))
        return None if oracle is None else (np.mean(np.stack(fixed), axis=0), oracle)

    def _digest(self, benchmark: str, models: list[str], choice: np.ndarray) -> str:
        digest = super()._digest(benchmark, models, choice)
        if not self._differs(benchmark):
            return digest  # the paper's draws, shared with the plain bootstrap's cache
        return hashlib.sha256(f"{digest}|{self.rules}".encode()).hexdigest()[:24]


def recorded(run: Run) -> str:
    """The conventions a run file was scored under (files from before the setting: paper)."""
    return str(run.raw.get("conventions") or "paper")


def rescored(run: Run, rules: str) -> Run:
    """``run`` with its benchmarks' mu_o / mu_n under ``rules`` (the stored choices re-scored; the
    oracle re-chooses by the rules' ground truth; random is the candidates' mean under them)."""
    from harness.core.runner import references

    if recorded(run) == rules:
        return run
    benches = dict(run.benchmarks)
    for name, rb in run.benchmarks.items():
        adapter = get_benchmark(name)
        if not conventions.differs(adapter):
            continue
        data = store.load(name, run.models)
        refs = references(name, tuple(run.models), rules)
        choice = conventions.oracle_choice(adapter, data, rules) if run.router == "oracle" else rb.choice
        score = refs["random"] if rb.expected else conventions.score(adapter, data, choice, rules, detail=False)["score"]
        benches[name] = dataclasses.replace(rb, choice=choice, score=float(score),
                                            normalized=normalized(float(score), refs["random"], refs["oracle"]))
    return dataclasses.replace(run, benchmarks=benches)


def stats_under(rules: str, settings: Settings, runs: list[Run] | None = None) -> dict[GroupKey, GroupStats]:
    """Every seed group's statistics with its runs scored under ``rules``."""
    boot = RulesBootstrap(settings, rules)
    runs = load_runs() if runs is None else runs
    return {key: group_stats([rescored(r, rules) for r in members], boot)
            for key, members in group_runs(runs).items()}


# --------------------------------------------------------------------------------------------
# Where rankings and tie marks differ
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Row:
    key: GroupKey
    avg: dict[str, float]  # rules -> average mu_n
    rank: dict[str, int | None]  # rules -> rank among the non-reference routers (oracle, random left out)
    mark: dict[str, str | None]  # rules -> 'leader' / 'tied' / 'behind' / None (not compared)

    @property
    def differs(self) -> bool:
        return self.rank["paper"] != self.rank["official"] or self.mark["paper"] != self.mark["official"]


def compare_rules(by_rules: dict[str, dict[GroupKey, GroupStats]]) -> dict[tuple[str, str], list[Row]]:
    """Per display group (pool, protocol): each router's average, rank and tie mark under both rules."""
    marks = {rules: tie_marks(stats) for rules, stats in by_rules.items()}
    out: dict[tuple[str, str], list[Row]] = {}
    for group, keys in display_groups(by_rules["paper"]).items():
        ranks = {}
        for rules, stats in by_rules.items():
            ranked = sorted((k for k in keys if k[0] not in ("oracle", "random") and stats[k].scored()),
                            key=lambda k: (-stats[k].avg_point(), k))
            ranks[rules] = {k: i + 1 for i, k in enumerate(ranked)}
        rows = [Row(k, {r: s[k].avg_point() for r, s in by_rules.items()}, {r: ranks[r].get(k) for r in by_rules},
                    {r: marks[r].get(group, {}).get(k) for r in by_rules}) for k in keys]
        out[group] = sorted(rows, key=lambda row: (row.rank["paper"] is None, row.rank["paper"] or 0, row.key))
    return out


def alone_on_own_items(pool_models: list[str]) -> list[str]:
    """Arena-Hard, official rules: each candidate on the pool's items and alone on its own file."""
    adapter, lines = get_benchmark("arenahard"), []
    pooled = store.load("arenahard", pool_models)
    for j, model in enumerate(pool_models):
        own = store.load("arenahard", [model])
        on_pool = conventions.score(adapter, pooled, pooled.fixed_choice(j), "official", detail=False)["score"]
        alone = conventions.score(adapter, own, own.fixed_choice(0), "official", detail=False)["score"]
        lines.append(f"| {model} | {on_pool:.2f} ({pooled.n_items}) | {alone:.2f} ({own.n_items}) |")
    return lines


def conventions_markdown(rows: dict[tuple[str, str], list[Row]], recorded_official: list[str]) -> str:
    lines = ["# Scoring conventions: paper against official", "",
             "Generated by `make report`. Every run is re-scored from its stored choices under both "
             "conventions (`harness/core/conventions.py`): **paper** = the authors' evaluation (Arena-Hard: a judge "
             "failure is a strong baseline win; MT-Bench: a failed judgment counts as -1); **official** = "
             "arena-hard-auto v0.1 `show_result.py` (a failed verdict is dropped) and FastChat `show_result.py` "
             "(score -1 dropped). The other benchmarks agree. Random and oracle are recomputed under each; "
             "ranks leave out oracle and random; marks: ▲ leader, ≈ tied with it (paired bootstrap, p ≥ 0.05).", ""]
    if recorded_official:
        lines += ["Run files recorded under `official` (the board's intervals assume `paper`): "
                  + ", ".join(f"`{p}`" for p in recorded_official), ""]
    for (pool, protocol), members in rows.items():
        changed = [r for r in members if r.differs]
        lines += [f"## Pool `{pool}`, protocol `{protocol}`", "",
                  f"{len(changed)} router(s) change rank or tie mark: "
                  + (", ".join(f"{_name(r.key)} ({_cell(r, 'paper')} → {_cell(r, 'official')})" for r in changed)
                     or "none")
                  + ".", "", "| Router | Profile | paper avg mu_n | rank | official avg mu_n | rank | Δ | differs |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in members:
            lines.append(f"| {r.key[0]} | {r.key[3]} | {r.avg['paper']:.1f} {MARK_TEXT[r.mark['paper']]} | "
                         f"{r.rank['paper'] or '–'} | {r.avg['official']:.1f} {MARK_TEXT[r.mark['official']]} | "
                         f"{r.rank['official'] or '–'} | {r.avg['official'] - r.avg['paper']:+.1f} | "
                         f"{'**yes**' if r.differs else ''} |")
        lines.append("")
    return "\n".join(lines)


def _name(key: GroupKey) -> str:
    return key[0] if key[3] == "-" else f"{key[0]}@{key[3]}"


def _cell(row: Row, rules: str) -> str:
    return f"#{row.rank[rules] or '–'}{MARK_TEXT[row.mark[rules]]}"


def conventions_path() -> Path:
    return config.results_dir() / "conventions.md"


def write_conventions(settings: Settings, paper_stats: dict[GroupKey, GroupStats] | None = None) -> Path:
    """``results/conventions.md`` for every run file (``paper_stats``: the board's own, when the
    caller has them and every run was recorded under the paper's rules)."""
    runs = load_runs()
    if not runs:
        raise HarnessError(f"{config.results_dir() / 'runs'}: no run files to compare conventions on")
    official = [r.path.name for r in runs if recorded(r) != "paper"]
    if paper_stats is None or official:
        paper_stats = stats_under("paper", settings, runs)
    rows = compare_rules({"paper": paper_stats, "official": stats_under("official", settings, runs)})
    text = conventions_markdown(rows, official)
    pools = sorted({k[1] for k in paper_stats if k[1] in ("paper5", "paper3", "paper8")})
    for pool in pools:
        models = next(s.runs[0].models for k, s in paper_stats.items() if k[1] == pool)
        if "arenahard" in next(s.benchmarks for k, s in paper_stats.items() if k[1] == pool):
            text += (f"\n## Arena-Hard candidates alone, official rules, pool `{pool}`\n\narena-hard-auto scores a "
                     "model on its own judgment file; a routed mix exists only on the items every candidate "
                     "answered. Win rate (items):\n\n| Candidate | on the pool's items | alone, own items |\n"
                     "|---|---|---|\n" + "\n".join(alone_on_own_items(models)) + "\n")
    path = conventions_path()
    atomic_write_text(path, text)
    return path
