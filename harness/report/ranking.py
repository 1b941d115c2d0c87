"""Reading the bootstrap as a board: which rows a (pool, protocol) shows, its leader and the routers
statistically tied with it, how a router is named on the command line (``router@profile``), and the
text of intervals and comparisons. The resampling itself is :mod:`harness.report.bootstrap`.
Imports: core, report.bootstrap."""
from __future__ import annotations

from typing import Iterable

from benchmarks import PAPER_BENCHMARKS
from harness.core.errors import HarnessError
from harness.report.bootstrap import LEVEL, TIE_ALPHA, Comparison, GroupStats, Settings, all_group_stats, compare, interval
from harness.report.runs import GroupKey, runs_dir

def display_groups(stats: dict[GroupKey, GroupStats]) -> dict[tuple[str, str], list[GroupKey]]:
    """(pool, protocol) -> members, as the leaderboard shows them: reference routers (protocol
    'none') beside every protocol's learned routers of their pool; a pool with only references
    forms its own 'none' group."""
    learned = sorted({(k[1], k[2]) for k in stats if k[2] != "none"})
    out: dict[tuple[str, str], list[GroupKey]] = {}
    for pool in sorted({k[1] for k in stats}):
        protocols = [p for (q, p) in learned if q == pool] or ["none"]
        for protocol in protocols:
            out[(pool, protocol)] = [k for k in stats if k[1] == pool and k[2] in (protocol, "none")]
    return out


def leader_and_ties(members: list[GroupStats]) -> tuple[GroupKey | None, dict[GroupKey, Comparison]]:
    """The best router by average mu_n (oracle excluded: it reads the test labels) among those with
    every benchmark of the group, and its comparison with each other such router."""
    wanted = set().union(*(m.benchmarks for m in members)) if members else set()
    eligible = [m for m in members if m.router != "oracle" and set(m.scored()) >= wanted and m.scored()]
    if len(eligible) < 2:  # a lone router leads nothing
        return None, {}
    leader = max(eligible, key=lambda m: (m.avg_point(), m.router))
    return leader.key, {m.key: compare(leader, m) for m in eligible if m.key != leader.key}


def tie_marks(stats: dict[GroupKey, GroupStats]) -> dict[tuple[str, str], dict[GroupKey, str]]:
    """Per display group: 'leader', 'tied' (p >= 0.05 against the leader) or 'behind'."""
    out: dict[tuple[str, str], dict[GroupKey, str]] = {}
    for group, keys in display_groups(stats).items():
        leader, comparisons = leader_and_ties([stats[k] for k in keys])
        marks = {} if leader is None else {leader: "leader"}
        for key, comp in comparisons.items():
            marks[key] = "behind" if comp.significant else "tied"
        out[group] = marks
    return out


def find_key(keys: Iterable[GroupKey], router: str, pool: str, protocol: str) -> GroupKey:
    """The group of ``router`` on (pool, protocol); reference routers match any protocol.
    ``router@profile`` picks one profile where the router has runs under several."""
    name, _, profile = router.partition("@")
    keys = list(keys)
    found = [k for k in keys if k[0] == name and k[1] == pool and k[2] in (protocol, "none")
             and (not profile or k[3] == profile)]
    if len(found) == 1:
        return found[0]
    if not found:
        have = sorted({f"{k[0]}@{k[3]} ({k[1]}, {k[2]})" for k in keys})
        raise HarnessError(f"router '{router}': no run file in {runs_dir()} for pool {pool}, protocol "
                           f"{protocol}; have: {', '.join(have) or 'none'}")
    choices = " or ".join(f"{name}@{k[3]}" for k in found)
    raise HarnessError(f"router '{router}': several profiles on pool {pool}; name one: {choices}")


# --------------------------------------------------------------------------------------------
# Leaderboard hook (harness.report.board.render) and text formatting
# --------------------------------------------------------------------------------------------

MARKS = {"leader": " ▲", "tied": " ≈", "behind": ""}
MARK_LEGEND = ("▲ leader of the pool and protocol (oracle excluded); ≈ statistically tied with it "
               f"(paired bootstrap over items, p ≥ {TIE_ALPHA}); intervals: {LEVEL:.0f}% percentile "
               "bootstrap, random and oracle recomputed in each resample.")


def fmt_ci(ci: tuple[float, float], digits: int = 1) -> str:
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def fmt_p(p: float, resamples: int) -> str:
    return f"< {1.0 / resamples:.0e}" if p == 0 else f"{p:.3f}"


class LeaderboardAnnotations:
    """What leaderboard.render adds: the average's interval and tie mark, and an interval table."""

    def __init__(self, settings: Settings = Settings()):
        self.settings = settings
        self.stats = all_group_stats(settings=settings)
        self.marks = tie_marks(self.stats)

    def group(self, pool: str, protocol: str, router: str, profile: str) -> GroupStats | None:
        """The seed group behind a leaderboard row (reference rows: profile '-', protocol 'none')."""
        return self._find(pool, protocol, router, profile)

    def _find(self, pool: str, protocol: str, router: str, profile: str) -> GroupStats | None:
        protocol_key = "none" if profile == "-" else protocol
        return self.stats.get((router, pool, protocol_key, profile))

    def avg_suffix(self, pool: str, protocol: str, router: str, profile: str) -> str:
        s = self._find(pool, protocol, router, profile)
        if s is None or not s.scored():
            return ""
        mark = self.marks.get((pool, protocol), {}).get(s.key, "")
        seeds = ""
        if len(s.runs) > 1:  # the interval is for the mean over seeds, not the row's own seed
            seeds = f" (seeds {','.join(map(str, s.seeds))}: {s.avg_point():.1f} ± {s.avg_std():.1f})"
        return f" {fmt_ci(interval(s.avg_draws()))}{MARKS.get(mark, '')}{seeds}"

    def section(self, pool: str, protocol: str) -> list[str]:
        keys = display_groups(self.stats).get((pool, protocol), [])
        if not keys:
            return []
        members = sorted((self.stats[k] for k in keys), key=lambda s: -s.avg_point())
        benches = [b for b in PAPER_BENCHMARKS if any(b in m.benchmarks for m in members)]
        lines = [f"95% intervals of mu_n ({self.settings.resamples} paired resamples, seed "
                 f"{self.settings.seed}). {MARK_LEGEND}", "",
                 "| Router | Profile | Seeds | Avg mu_n | 95% CI | " + " | ".join(map(bench_title, benches)) + " |",
                 "|---|---|---|---|---|" + "---|" * len(benches)]
        for s in members:
            mark = MARKS.get(self.marks.get((pool, protocol), {}).get(s.key, ""), "")
            avg = f"{s.avg_point():.1f}" + (f" ± {s.avg_std():.1f}" if len(s.runs) > 1 else "")
            ci = fmt_ci(interval(s.avg_draws())) if s.scored() else "–"
            cells = [_bench_cell(s, b) for b in benches]
            lines.append(f"| {s.router}{mark} | {s.key[3]} | {len(s.runs)} | {avg} | {ci} | " + " | ".join(cells) + " |")
        return lines + [""]


def bench_title(benchmark: str) -> str:
    from benchmarks import get_benchmark

    try:
        return get_benchmark(benchmark).title + " mu_n"
    except HarnessError:
        return benchmark


def _bench_cell(s: GroupStats, bench: str) -> str:
    if bench not in s.point_mu_n:
        return "–"
    std = f" ± {s.std_mu_n[bench]:.1f}" if len(s.runs) > 1 else ""
    ci = f" {fmt_ci(interval(s.draws_mu_n[bench]))}" if bench in s.draws_mu_n else ""
    return f"{s.point_mu_n[bench]:.1f}{std}{ci}"


def leaderboard_annotations() -> LeaderboardAnnotations | None:
    """Built from the run files; None when there are none (render then shows no intervals)."""
    if not any(runs_dir().glob("*.json")):
        return None
    return LeaderboardAnnotations()


def comparison_text(comp: Comparison, a: GroupStats, b: GroupStats, resamples: int) -> str:
    lines = [f"A = {_label(a)}", f"B = {_label(b)}",
             f"{'benchmark':<11} {'A mu_n':>8} {'B mu_n':>8} {'A-B':>7} {'95% CI':>17} {'p':>8}"]
    for bench, (d, ci, p) in comp.per_benchmark.items():
        lines.append(f"{bench:<11} {a.point_mu_n[bench]:8.1f} {b.point_mu_n[bench]:8.1f} {d:7.1f} "
                     f"{fmt_ci(ci):>17} {fmt_p(p, resamples):>8}")
    lines.append(f"{'average':<11} {a.avg_point(comp.benchmarks):8.1f} {b.avg_point(comp.benchmarks):8.1f} "
                 f"{comp.diff:7.1f} {fmt_ci(comp.ci):>17} {fmt_p(comp.p_value, resamples):>8}")
    verdict = "significant" if comp.significant else "not significant (statistically tied)"
    lines.append(f"difference in average mu_n: {comp.diff:+.2f} {fmt_ci(comp.ci, 2)}, p = "
                 f"{fmt_p(comp.p_value, resamples)}: {verdict} at {TIE_ALPHA}")
    return "\n".join(lines)


def _label(s: GroupStats) -> str:
    router, pool, protocol, profile = s.key
    seeds = ",".join(str(x) for x in s.seeds)
    return f"{router} (pool {pool}, protocol {protocol}, profile {profile}, seeds {seeds})"
