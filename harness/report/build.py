"""``routing-harness report`` and ``compare``: every generated report from the run files in one call
(leaderboard.md with intervals, analysis.md, site/index.html), and the paired comparison of two
routers. The top of the report layer: imports core and the other report modules."""
from __future__ import annotations

from pathlib import Path

from harness.core.errors import HarnessError
from harness.report import board, conventions, curves_render, site
from harness.report.analysis import write_analysis
from harness.report.bootstrap import Bootstrap, Settings, all_group_stats, compare, group_stats
from harness.report.runs import group_runs, load_runs, runs_dir
from harness.report.ranking import comparison_text, find_key

def compare_routers(a: str, b: str, pool: str, protocol: str, settings: Settings) -> str:
    """``routing-harness compare``: the paired bootstrap difference in average mu_n of two routers
    (each named as on the leaderboard, ``router@profile`` where it has several profiles)."""
    groups = group_runs(load_runs())
    boot = Bootstrap(settings)
    found = [find_key(groups, name, pool, protocol) for name in (a, b)]
    sa, sb = (group_stats(groups[key], boot) for key in found)
    return comparison_text(compare(sa, sb), sa, sb, settings.resamples)


def write_report(settings: Settings, pairs: list[tuple[str, str]] | None = None,
                 pool: str = "paper5", protocol: str = "cv") -> list[Path]:
    """``routing-harness report``: leaderboard.md (with intervals), analysis.md and site/index.html."""
    stats = all_group_stats(settings=settings)
    if not stats:
        raise HarnessError(f"{runs_dir()}: no run files to report on (run 'make eval ROUTER=...' first)")
    chosen = None
    if pairs:
        chosen = [(find_key(stats, a, pool, protocol), find_key(stats, b, pool, protocol)) for a, b in pairs]
    board.render()
    extra = [conventions.write_conventions(settings, stats), curves_render.render()]  # rules side by side; curves
    return [board.md_path(), write_analysis(stats, settings, chosen), site.write_site(stats, settings),
            *[path for path in extra if path is not None]]
