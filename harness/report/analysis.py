"""The paper's analyses, from the run files: routing proportions per candidate, win/tie/loss of one
router against another grouped by how many candidates answered correctly, and quality against cost
(activated candidate parameters, router GFLOPs, and the run-every-model ensemble as a reference).

Everything here reads ``results/runs/*.json`` (through :mod:`harness.report.bootstrap`) and the leaderboard
CSV (for the cost columns), so it covers whichever routers have run files, and says which.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core import config, leaderboard, store
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_text
from harness.core.pools import MODEL_PARAMS_B
from harness.report.bootstrap import GroupStats, Settings, compare, interval
from harness.report.runs import GroupKey
from harness.report import skill
from harness.report.ranking import display_groups, fmt_ci, fmt_p, tie_marks

PROPORTION_BENCHMARKS = ["gsm8k", "math", "humaneval", "mbpp"]  # the paper's routing-proportion figure


def label(key: GroupKey) -> str:
    router, pool, protocol, profile = key
    return router if protocol == "none" else f"{router} ({protocol}/{profile})"


# --------------------------------------------------------------------------------------------
# Routing proportions
# --------------------------------------------------------------------------------------------

def routing_shares(s: GroupStats, benchmarks: list[str]) -> np.ndarray | None:
    """Share of items routed to each candidate (mean over seeds), pooled over ``benchmarks``."""
    present = [b for b in benchmarks if b in s.benchmarks]
    if not present:
        return None
    models = s.runs[0].models
    shares = []
    for run in s.runs:
        choice = np.concatenate([run.benchmarks[b].choice for b in present])
        shares.append(np.bincount(choice, minlength=len(models)) / len(choice))
    return np.mean(shares, axis=0)


def proportions_section(stats: dict[GroupKey, GroupStats]) -> list[str]:
    lines = ["## Routing proportions per candidate", "",
             "Share of items (%) routed to each candidate, mean over seeds. Random (one seeded draw, not "
             "what its score uses) and fixed routers (100% to one model) are left out.", ""]
    for pool in sorted({k[1] for k in stats}):
        keys = [k for k in stats if k[1] == pool and k[0] != "random" and not k[0].startswith("fixed:")]
        if not keys:
            continue
        models = stats[keys[0]].runs[0].models
        lines += [f"### Pool `{pool}`", "", "| Router | Benchmarks | " + " | ".join(models) + " |",
                  "|---|---|" + "---|" * len(models)]
        for key in keys:
            s = stats[key]
            scopes = [(b, [b]) for b in PROPORTION_BENCHMARKS] + [("all", s.benchmarks)]
            for name, benches in scopes:
                shares = routing_shares(s, benches)
                if shares is not None:
                    lines.append(f"| {label(key)} | {name} | " + " | ".join(f"{100 * x:.1f}" for x in shares) + " |")
        lines.append("")
    return lines


# --------------------------------------------------------------------------------------------
# Win / tie / loss by the number of candidates answering correctly
# --------------------------------------------------------------------------------------------

@dataclass
class WinTieLoss:
    benchmark: str
    k: int  # candidates that answered correctly
    items: int
    win: float  # A correct and B wrong (mean over seed pairs)
    tie: float
    loss: float


def binary_benchmarks(s: GroupStats) -> list[str]:
    """Benchmarks with a per-item correct/incorrect verdict."""
    models = s.runs[0].models
    return [b for b in s.benchmarks if "correct" in store.load(b, models).native]


def win_tie_loss(a: GroupStats, b: GroupStats) -> list[WinTieLoss]:
    if a.key[1] != b.key[1]:
        raise HarnessError(f"win/tie/loss: '{a.router}' and '{b.router}' are on different pools")
    out = []
    models = a.runs[0].models
    for bench in [x for x in binary_benchmarks(a) if x in b.benchmarks]:
        correct = store.load(bench, models).native["correct"].astype(bool)
        n_correct = correct.sum(axis=1)
        rows = np.arange(len(correct))
        tallies = []
        for ra, rb in itertools.product(a.runs, b.runs):
            ca = correct[rows, ra.benchmarks[bench].choice]
            cb = correct[rows, rb.benchmarks[bench].choice]
            tallies.append(np.stack([ca & ~cb, ca == cb, ~ca & cb]))
        mean = np.mean(tallies, axis=0)  # (3, items)
        for k in range(1, len(models)):
            sel = n_correct == k
            out.append(WinTieLoss(bench, k, int(sel.sum()), *(float(mean[j, sel].sum()) for j in range(3))))
    return out


def default_pairs(stats: dict[GroupKey, GroupStats]) -> list[tuple[GroupKey, GroupKey]]:
    """Per display group: Lookahead variants against MLC when both ran, and the leader against the
    runner-up (oracle and random excluded)."""
    pairs = []
    for (pool, protocol), keys in display_groups(stats).items():
        mlc = [k for k in keys if k[0] == "mlc"]
        pairs += [(k, m) for k in keys if k[0].startswith("lookahead") for m in mlc]
        ranked = sorted((k for k in keys if k[0] not in ("oracle", "random")),
                        key=lambda k: -stats[k].avg_point())
        if len(ranked) >= 2 and (ranked[0], ranked[1]) not in pairs:
            pairs.append((ranked[0], ranked[1]))
    return list(dict.fromkeys(pairs))


def win_tie_loss_section(stats: dict[GroupKey, GroupStats],
                         pairs: list[tuple[GroupKey, GroupKey]]) -> list[str]:
    lines = ["## Win / tie / loss by how many candidates answered correctly", "",
             "Binary-verdict benchmarks only. k = number of candidates of the pool that answered the item "
             "correctly (items with k = 0 or all are ties for every router and are left out). Win: A's choice "
             "is correct and B's is not. With several seeds, counts are means over seed pairs.", ""]
    if not pairs:
        return lines + ["No pair of routers to compare yet.", ""]
    for a_key, b_key in pairs:
        rows = win_tie_loss(stats[a_key], stats[b_key])
        lines += [f"### A = {label(a_key)}, B = {label(b_key)} (pool `{a_key[1]}`)", "",
                  "| Benchmark | k | items | win | tie | loss |", "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r.benchmark} | {r.k} | {r.items} | {r.win:g} | {r.tie:g} | {r.loss:g} |")
        for k in sorted({r.k for r in rows}):
            sel = [r for r in rows if r.k == k]
            lines.append(f"| **all** | {k} | {sum(r.items for r in sel)} | {sum(r.win for r in sel):g} | "
                         f"{sum(r.tie for r in sel):g} | {sum(r.loss for r in sel):g} |")
        lines.append("")
    return lines


# --------------------------------------------------------------------------------------------
# Quality against cost
# --------------------------------------------------------------------------------------------

@dataclass
class CostPoint:
    key: GroupKey
    avg_mu_n: float
    ci: tuple[float, float] | None
    params_mean_of_means: float  # billions, mean over benchmarks of the per-benchmark mean
    params_pooled: float  # billions, over all items (MATH's 5000 dominate)
    gflops: float  # router GFLOPs per query from the leaderboard CSV (nan when not measured)


def model_params(models: list[str]) -> np.ndarray:
    missing = [m for m in models if m not in MODEL_PARAMS_B]
    if missing:
        raise HarnessError(f"model '{missing[0]}': parameter count unknown (add it to MODEL_PARAMS_B in "
                           "harness/core/pools.py)")
    return np.array([MODEL_PARAMS_B[m] for m in models])


def activated_params(s: GroupStats) -> tuple[float, float]:
    """(mean of per-benchmark means, pooled over items), billions; random: the uniform expectation."""
    sizes = model_params(s.runs[0].models)
    per_bench, pooled = [], []
    for run in s.runs:
        chosen = {b: (np.full(len(rb.choice), sizes.mean()) if rb.expected else sizes[rb.choice])
                  for b, rb in run.benchmarks.items() if b in s.benchmarks}
        per_bench.append(np.mean([c.mean() for c in chosen.values()]))
        pooled.append(np.concatenate(list(chosen.values())).mean())
    return float(np.mean(per_bench)), float(np.mean(pooled))


def csv_gflops() -> dict[GroupKey, float]:
    out: dict[GroupKey, float] = {}
    for row in leaderboard.read_rows():
        try:
            value = float(row.get("gflops") or "nan")
        except ValueError:
            continue
        key = (row["router"], row["pool"], row["protocol"], row["profile"])
        if value == value:
            out.setdefault(key, value)
    return out


def cost_points(stats: dict[GroupKey, GroupStats]) -> list[CostPoint]:
    gflops = csv_gflops()
    points = []
    for key, s in stats.items():
        mom, pooled = activated_params(s)
        ci = interval(s.avg_draws()) if s.scored() else None
        points.append(CostPoint(key, s.avg_point(), ci, mom, pooled, gflops.get(key, math.nan)))
    return points


def ensemble_params(models: list[str]) -> float:
    """'Run every candidate, let a judge pick': every query activates all candidates (judge not counted)."""
    return float(model_params(models).sum())


def cost_section(stats: dict[GroupKey, GroupStats]) -> list[str]:
    lines = ["## Quality against cost", "",
             "Average mu_n (95% interval) against activated candidate parameters per query (billions): the "
             "mean of the per-benchmark means, and pooled over all items (MATH's 5000 items dominate it). "
             "Router GFLOPs per query come from the leaderboard's `gflops` column (`routing-harness cost`); "
             "– where not measured. The ensemble row runs every candidate on every query and lets a judge "
             "pick: its quality is at most the oracle's (100, a perfect judge) and its cost is the sum of the "
             "candidates plus the judge's own, which is not counted here.", ""]
    points = cost_points(stats)
    for pool in sorted({p.key[1] for p in points}):
        members = sorted((p for p in points if p.key[1] == pool), key=lambda p: -p.avg_mu_n)
        lines += [f"### Pool `{pool}`", "",
                  "| Router | Avg mu_n | 95% CI | Params (mean of benchmark means) | Params (pooled) | Router GFLOPs |",
                  "|---|---|---|---|---|---|"]
        for p in members:
            gf = "–" if p.gflops != p.gflops else f"{p.gflops:.4g}"
            ci = fmt_ci(p.ci) if p.ci else "–"
            lines.append(f"| {label(p.key)} | {p.avg_mu_n:.1f} | {ci} | {p.params_mean_of_means:.2f} | "
                         f"{p.params_pooled:.2f} | {gf} |")
        total = ensemble_params(stats[members[0].key].runs[0].models)
        lines += [f"| *ensemble: every candidate + judge* | ≤ 100 | – | {total:.1f} + judge | {total:.1f} + judge | – |", ""]
    return lines


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

def comparisons_section(stats: dict[GroupKey, GroupStats], settings: Settings) -> list[str]:
    lines = ["## Pairwise comparisons with the leader", "",
             "Per pool and protocol: the leader (best average mu_n, oracle excluded) against every other "
             "router, paired bootstrap over items (random and oracle recomputed per resample). "
             "`make compare A=... B=...` compares any two.", ""]
    marks = tie_marks(stats)
    for (pool, protocol), keys in display_groups(stats).items():
        leader = next((k for k, m in marks.get((pool, protocol), {}).items() if m == "leader"), None)
        if leader is None:
            continue
        lines += [f"### Pool `{pool}`, protocol `{protocol}`: leader {label(leader)}", "",
                  "| Router | Avg mu_n | leader − router | 95% CI | p | verdict |", "|---|---|---|---|---|---|"]
        others = sorted((k for k in keys if k != leader and k in marks[(pool, protocol)]),
                        key=lambda k: -stats[k].avg_point())
        for key in others:
            c = compare(stats[leader], stats[key])
            lines.append(f"| {label(key)} | {stats[key].avg_point():.1f} | {c.diff:.1f} | {fmt_ci(c.ci)} | "
                         f"{fmt_p(c.p_value, settings.resamples)} | {'behind' if c.significant else 'tied'} |")
        lines.append("")
    return lines


def coverage_lines(stats: dict[GroupKey, GroupStats]) -> list[str]:
    lines = ["Routers covered (run files in `results/runs/`):", ""]
    for key, s in stats.items():
        files = ", ".join(f"`{r.path.name}`" for r in s.runs)
        lines.append(f"- {label(key)}, pool `{key[1]}`, seeds {','.join(map(str, s.seeds))}: {files}")
    return lines + [""]


def analysis_markdown(stats: dict[GroupKey, GroupStats], settings: Settings,
                      pairs: list[tuple[GroupKey, GroupKey]] | None = None) -> str:
    lines = ["# Analyses", "",
             "Generated by `make report` from the run files; regenerate after adding runs. Intervals: "
             f"{settings.resamples} paired bootstrap resamples over items (seed {settings.seed}), 95% "
             "percentile; see `harness/report/bootstrap.py` for the method (AlpacaEval LC inside the bootstrap uses "
             "a vectorised refit of alpaca_eval's GLM, checked against the native function).", ""]
    lines += coverage_lines(stats)
    lines += proportions_section(stats)
    lines += win_tie_loss_section(stats, default_pairs(stats) if pairs is None else pairs)
    lines += cost_section(stats)
    lines += comparisons_section(stats, settings)
    lines += skill.markdown(stats, settings)  # each learned router against its protocol's reference
    return "\n".join(lines)


def analysis_path() -> Path:
    return config.results_dir() / "analysis.md"


def write_analysis(stats: dict[GroupKey, GroupStats], settings: Settings,
                   pairs: list[tuple[GroupKey, GroupKey]] | None = None) -> Path:
    path = analysis_path()
    atomic_write_text(path, analysis_markdown(stats, settings, pairs))
    return path
