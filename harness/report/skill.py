"""Skill beyond the task: every learned router against its protocol's single-model reference.

Pooled ``cv`` mostly rewards recognising the task: ``task_best`` (the benchmark's best model,
looked up by the benchmark's name) ties most learned routers. So each learned router is compared,
with the paired bootstrap of :mod:`harness.report.bootstrap` (:func:`compare` on two
:class:`GroupStats`), with:

- under ``cv``: ``task_best``'s run on the same pool (same profile where there are several);
- under ``within`` and ``lobo``: the single-model reference each run file records per item (the
  best single model on the training items of the fold that predicted it,
  ``harness.core.protocols.REFERENCE_RULE``), as a group of its own with the router's seeds.

The figure is router − reference in average mu_n and per benchmark, with its 95% interval and
p-value: above zero with an interval clear of it, the router shows per-query skill the reference
lacks. ``task_rules`` (three prompt rules, no learning) is compared with the same references, as
the "no learning" bar. Imports: core, report.bootstrap, report.runs, report.ranking.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from benchmarks import PAPER_BENCHMARKS
from harness.report.bootstrap import Bootstrap, Comparison, GroupStats, Settings, compare, group_stats
from harness.report.ranking import bench_title, display_groups, fmt_ci, fmt_p
from harness.report.runs import GroupKey, Run, RunBench

TASK_REFERENCE = "task_best"  # cv's reference: recognise the task, pick its best model
SINGLE_REFERENCE = "single_best"  # within/lobo: the best single model on each fold's training items
NO_LEARNING = "task_rules"  # the hand-written rules, compared with the same references
REFERENCE_TEXT = {"cv": "task_best (the benchmark's best model on the training folds, by its name)",
                  "within": "the benchmark's best single model on the training folds",
                  "lobo": "the best single model on the training benchmarks (the other six on paper5)"}


@dataclass
class Skill:
    key: GroupKey  # the router's group
    router: GroupStats
    reference: GroupStats
    comparison: Comparison  # router − reference

    @property
    def benchmarks(self) -> list[str]:
        return self.comparison.benchmarks


def reference_run(run: Run) -> Run | None:
    """A within/lobo run's recorded single-model reference as a run of its own (None: not recorded)."""
    benches = {}
    for name, rb in run.benchmarks.items():
        ref = (run.raw.get("benchmarks", {}).get(name) or {}).get("reference")
        if not ref:
            return None
        benches[name] = RunBench(choice=np.asarray(ref["choice"], dtype=np.int64), ids=rb.ids, score=float(ref["score"]),
                                 normalized=float(ref["normalized"]), expected=False)
    return replace(run, router=SINGLE_REFERENCE, benchmarks=benches)


def reference_for(stats: dict[GroupKey, GroupStats], key: GroupKey, protocol: str,
                  boot: Bootstrap) -> GroupStats | None:
    """The reference group a router of ``key`` is compared with under ``protocol``."""
    pool = key[1]
    if protocol == "cv":
        found = [k for k in stats if k[0] == TASK_REFERENCE and k[1] == pool and k[2] == "cv"]
        same = [k for k in found if k[3] == key[3]]
        return stats[(same or found)[0]] if found and key[0] != TASK_REFERENCE else None
    if protocol not in REFERENCE_TEXT:
        return None
    source = stats.get(key) if key[2] == protocol else None
    if source is None:  # a reference router (task_rules): the reference of the protocol's first learned run
        source = next((s for k, s in sorted(stats.items()) if k[1] == pool and k[2] == protocol), None)
    runs = [reference_run(r) for r in source.runs] if source is not None else []
    if not runs or any(r is None for r in runs):
        return None
    return group_stats(runs, boot)


def skills(stats: dict[GroupKey, GroupStats], settings: Settings = Settings(),
           boot: Bootstrap | None = None) -> dict[tuple[str, str], list[Skill]]:
    """(pool, protocol) -> the skill of every learned router, and of task_rules, in board order."""
    boot = boot or Bootstrap(settings)
    out: dict[tuple[str, str], list[Skill]] = {}
    for (pool, protocol), keys in display_groups(stats).items():
        if protocol not in REFERENCE_TEXT:
            continue
        members = [k for k in keys if k[2] == protocol or k[0] == NO_LEARNING]
        rows = []
        for key in sorted(members, key=lambda k: -stats[k].avg_point()):
            reference = reference_for(stats, key, protocol, boot)
            if key[0] == TASK_REFERENCE or reference is None or not stats[key].scored() or not reference.scored():
                continue  # task_best is cv's reference, and under within it is the reference itself
            rows.append(Skill(key, stats[key], reference, compare(stats[key], reference)))
        if rows:
            out[(pool, protocol)] = rows
    return out


def section(rows: list[Skill], protocol: str, resamples: int) -> list[str]:
    """Markdown: router − reference in average mu_n and per benchmark, with 95% intervals."""
    if not rows:
        return []
    benches = [b for b in PAPER_BENCHMARKS if any(b in s.benchmarks for s in rows)]
    benches += sorted({b for s in rows for b in s.benchmarks} - set(benches))
    lines = [f"Skill beyond the task under `{protocol}`: router − reference in mu_n (paired bootstrap, 95% interval, "
             f"p), the reference being {REFERENCE_TEXT[protocol]}. Above zero with an interval clear of it: "
             f"per-query skill the reference lacks. `{NO_LEARNING}` is three prompt rules, no learning.", "",
             "| Router | Profile | Seeds | Avg mu_n | Reference | Skill | 95% CI | p | "
             + " | ".join(bench_title(b).removesuffix(" mu_n") for b in benches) + " |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(benches)]
    for s in rows:
        c = s.comparison
        cells = [f"{c.per_benchmark[b][0]:+.1f} {fmt_ci(c.per_benchmark[b][1])}" if b in c.per_benchmark else "–"
                 for b in benches]
        router, _, _, profile = s.key
        lines.append(f"| {router} | {profile} | {len(s.router.runs)} | {s.router.avg_point(c.benchmarks):.1f} | "
                     f"{s.reference.avg_point(c.benchmarks):.1f} | {c.diff:+.1f} | {fmt_ci(c.ci)} | "
                     f"{fmt_p(c.p_value, resamples)} | " + " | ".join(cells) + " |")
    return lines + [""]


def markdown(stats: dict[GroupKey, GroupStats], settings: Settings) -> list[str]:
    """Every (pool, protocol)'s skill table, for results/analysis.md."""
    lines = ["## Skill beyond the task", "",
             "Each learned router against its protocol's single-model reference (`cv`: task_best; `within`, "
             "`lobo`: the best single model on each fold's training items, recorded in the run files).", ""]
    found = skills(stats, settings)
    for (pool, protocol), rows in found.items():
        lines += [f"### Pool `{pool}`, protocol `{protocol}`", ""] + section(rows, protocol, settings.resamples)
    return lines if found else lines + ["No learned router has a reference to compare with yet.", ""]
