"""``routing-harness protocols`` (``make protocols``): ``results/protocols.md``.

Per router and protocol (``cv``, ``within``, ``lobo``): the average mu_n with its 95% interval and
the skill beyond the task (router − its protocol's single-model reference, paired bootstrap;
:mod:`harness.report.skill`), then the skill per benchmark. It reads the run files of the results
tree (``config.results_dir()``); a cell without one says "not run yet" with the command that runs it.
``--train`` runs the missing cells first, one at a time (each writes its run file and leaderboard
rows like ``make eval``). Imports: core, report.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import PAPER_BENCHMARKS
from harness.core import config, runner
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_text
from harness.core.pools import resolve_pool
from harness.report import bootstrap, skill
from harness.report.ranking import bench_title, fmt_ci, fmt_p
from harness.report.runs import GroupKey, group_runs, load_runs

PROTOCOLS = ("cv", "within", "lobo")
DEFAULT_ROUTERS = ("knn", "mlc@small", "routerdc@small", "lookahead_mlm@small", "task_best", "task_rules")
REFERENCE_ROUTERS = ("task_rules",)  # learn nothing: one run (protocol none) stands beside every protocol
QUESTION = {"cv": "pooled benchmarks: per-query skill and task recognition together",
            "within": "inside one benchmark at a time: per-query skill alone (no task to recognise)",
            "lobo": "an unseen benchmark: does what was learned transfer to a new task?"}


@dataclass
class Settings:
    pool: str = "paper5"
    routers: tuple[str, ...] = DEFAULT_ROUTERS  # name or name@profile
    protocols: tuple[str, ...] = PROTOCOLS
    profile: str = "cpu"
    seeds: tuple[int, ...] = (0,)
    folds: int = 5
    benchmarks: list[str] = field(default_factory=lambda: list(PAPER_BENCHMARKS))
    train: bool = False
    bootstrap: bootstrap.Settings = field(default_factory=bootstrap.Settings)


@dataclass
class Cell:
    router: str
    profile: str
    protocol: str  # the row's protocol ("none" runs of reference routers are shown under each)

    @property
    def key_protocol(self) -> str:
        return "none" if self.router in REFERENCE_ROUTERS else self.protocol

    def impossible(self) -> str:
        if self.router == "task_best" and self.protocol == "lobo":
            return "cannot exist: it routes by the benchmark's name, and lobo's held-out benchmark is never in training"
        return ""

    def command(self, seeds: tuple[int, ...]) -> str:
        if self.router in REFERENCE_ROUTERS:
            return f"make eval ROUTER={self.router}"
        base = f"make eval ROUTER={self.router} PROTOCOL={self.protocol} PROFILE={self.profile}"
        return base if seeds == (0,) else f"for s in {' '.join(map(str, seeds))}; do {base} SEED=$s; done"


def cells(settings: Settings) -> list[Cell]:
    out = []
    for spec in settings.routers:
        name, _, profile = spec.partition("@")
        for protocol in settings.protocols:
            if protocol not in PROTOCOLS:
                raise HarnessError(f"--protocols {protocol}: expected some of {', '.join(PROTOCOLS)}")
            out.append(Cell(name, "-" if name in REFERENCE_ROUTERS else profile or settings.profile, protocol))
    return out


def key_of(cell: Cell, pool: str) -> GroupKey:
    return (cell.router, pool, cell.key_protocol, cell.profile)


def _groups(settings: Settings, pool: str) -> dict[GroupKey, list]:
    """Run files of the requested seeds (reference routers: any), grouped as board rows."""
    runs = [r for r in load_runs() if r.pool == pool and (r.protocol == "none" or r.seed in settings.seeds)]
    return group_runs(runs)


def train_missing(settings: Settings, pool: str) -> None:
    """Run every missing cell, one at a time (the board's rows and run files are written as by make eval)."""
    groups = _groups(settings, pool)
    have = {(key, r.seed) for key, runs in groups.items() for r in runs}
    for cell in cells(settings):
        seeds = (0,) if cell.router in REFERENCE_ROUTERS else settings.seeds
        for seed in [s for s in seeds if (key_of(cell, pool), s) not in have] if not cell.impossible() else []:
            print(f"protocols: running {cell.router} under {cell.key_protocol} ({cell.profile}), seed {seed}", file=sys.stderr)
            runner.evaluate(runner.EvalConfig(router=cell.router, pool=settings.pool, benchmarks=list(settings.benchmarks),
                                              protocol=cell.protocol, profile=cell.profile if cell.profile != "-" else "cpu",
                                              seed=seed, folds=settings.folds))
            have.add((key_of(cell, pool), seed))


def markdown(settings: Settings) -> str:
    pool, _ = resolve_pool(settings.pool)
    boot = bootstrap.Bootstrap(settings.bootstrap)
    groups = _groups(settings, pool)
    wanted = {key_of(c, pool) for c in cells(settings)} | {k for k in groups if k[0] == skill.TASK_REFERENCE}
    stats = {k: bootstrap.group_stats(v, boot) for k, v in groups.items() if k in wanted}
    lines = ["# Protocols: per-query skill, task recognition and transfer", "",
             "Generated by `make protocols` (`routing-harness protocols`) from the run files in `runs/` of the "
             "results tree (listed at the end); regenerate after adding runs. What each protocol answers:", ""]
    lines += [f"- `{p}`: {QUESTION[p]}; reference: {skill.REFERENCE_TEXT[p]}." for p in settings.protocols]
    lines += ["", f"Pool `{pool}`, seeds {','.join(map(str, settings.seeds))}, {settings.bootstrap.resamples} paired "
              f"bootstrap resamples over items (seed {settings.bootstrap.seed}), 95% percentile intervals. Skill = router − "
              "reference in mu_n, paired (same items, same seeds and folds); p: two-sided bootstrap p-value. "
              f"`{skill.NO_LEARNING}` learns nothing (three prompt rules): one run, shown under every protocol.", "",
              "## Average mu_n and skill beyond the task", "",
              "| Router | Profile | Protocol | Seeds | Avg mu_n | 95% CI | Reference avg | Skill | 95% CI | p |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    found: dict[tuple[str, str], skill.Skill] = {}
    for cell in cells(settings):
        key = key_of(cell, pool)
        head = f"| {cell.router} | {cell.profile} | {cell.protocol} |"
        if cell.impossible():
            lines.append(f"{head} – | {cell.impossible()} | | | | | |")
            continue
        s = stats.get(key)
        if s is None or not s.scored():
            lines.append(f"{head} – | not run yet: `{cell.command(settings.seeds)}` | | | | | |")
            continue
        avg = f"{s.avg_point():.1f}" + (f" ± {s.avg_std():.1f}" if len(s.runs) > 1 else "")
        row = f"{head} {','.join(map(str, s.seeds))} | {avg} | {fmt_ci(bootstrap.interval(s.avg_draws()))} |"
        reference = None if cell.router == skill.TASK_REFERENCE else skill.reference_for(stats, key, cell.protocol, boot)
        if reference is None or not reference.scored():
            why = "(is the reference)" if cell.router == skill.TASK_REFERENCE else "no reference run yet"
            lines.append(f"{row} – | {why} | | |")
            continue
        comp = bootstrap.compare(s, reference)
        found[(cell.router, cell.protocol)] = skill.Skill(key, s, reference, comp)
        lines.append(f"{row} {reference.avg_point(comp.benchmarks):.1f} | {comp.diff:+.1f} | {fmt_ci(comp.ci)} | "
                     f"{fmt_p(comp.p_value, settings.bootstrap.resamples)} |")
    lines += [""] + _per_benchmark(found, settings)
    used = sorted({r.path.name for s in stats.values() for r in s.runs})  # the cells' runs and cv's references
    lines += ["Run files read:", ""] + [f"- `{name}`" for name in used]
    return "\n".join(lines) + "\n"


def _per_benchmark(found: dict[tuple[str, str], skill.Skill], settings: Settings) -> list[str]:
    lines = ["## Skill per benchmark", "", "Router − reference in mu_n, with its 95% interval.", ""]
    for protocol in settings.protocols:
        rows = [s for (_, p), s in found.items() if p == protocol]
        if not rows:
            lines += [f"### `{protocol}`", "", "No router with a reference under this protocol yet.", ""]
            continue
        benches = [b for b in PAPER_BENCHMARKS if any(b in s.benchmarks for s in rows)]
        benches += sorted({b for s in rows for b in s.benchmarks} - set(benches))
        lines += [f"### `{protocol}` (reference: {skill.REFERENCE_TEXT[protocol]})", "",
                  "| Router | " + " | ".join(bench_title(b).removesuffix(" mu_n") for b in benches) + " |",
                  "|---|" + "---|" * len(benches)]
        for s in rows:
            per = s.comparison.per_benchmark
            lines.append(f"| {s.key[0]} | " + " | ".join(f"{per[b][0]:+.1f} {fmt_ci(per[b][1])}" if b in per else "–"
                                                      for b in benches) + " |")
        lines.append("")
    return lines


def path() -> Path:
    return config.results_dir() / "protocols.md"


def run(settings: Settings) -> Path:
    if settings.train:
        train_missing(settings, resolve_pool(settings.pool)[0])
    out = path()
    atomic_write_text(out, markdown(settings))
    return out
