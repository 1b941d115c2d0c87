"""The static leaderboard page ``results/site/index.html`` (``make report``): one self-contained file
(inline CSS, JS and SVG; no CDN, no server) that opens from disk.

It opens on one clear view: the main pool and protocol (paper5, cv), the board sorted by average mu_n
with its 95% interval, and every benchmark's mu_n with the raw mu_o beside it. Controls pick the pool
(long ad-hoc pools get a short alias, the members on hover), the protocol, profile, kind (learned /
reference) and name, mu_n or mu_o, and per-benchmark intervals; every column sorts. Below: a
per-benchmark view, sorted dot plots (no legend colours to decode), routing proportions, win/tie/loss
by difficulty, quality against cost, the cost–quality curves when ``results/costcurve/`` has them,
scalability, the ablation and cost reports, and each row's run files and provenance, with links to
the CSV and the run files. Pieces: :mod:`harness.report.site_plots` (figures),
:mod:`harness.report.site_sections` (sections below the board), :mod:`harness.report.site_assets`
(CSS, JS). Imports: core and the report modules below it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks import PAPER_BENCHMARKS
from harness.core import config
from harness.core.io import atomic_write_text
from harness.core.pools import POOLS
from harness.report import analysis
from harness.report.bootstrap import GroupStats, Settings, interval
from harness.report.ranking import display_groups, tie_marks
from harness.report.runs import GroupKey
from harness.report.site_assets import CSS, JS
from harness.report.site_plots import Dot, bench_dots, dot_plot
from harness.report.site_sections import (attrs, cost_html, curves_html, esc, fig_id, md_reports, proportions_html,
                                          provenance_html, scalability_html, title, wtl_html)

MARK_TEXT = {"leader": "▲ leader", "tied": "≈ tied", "behind": ""}
MAIN_POOL, MAIN_PROTOCOL = "paper5", "cv"
TOC = (("per-benchmark", "per benchmark"), ("plots", "plots"), ("proportions", "routing proportions"),
       ("wtl", "win/tie/loss"), ("cost", "cost"), ("scalability", "scalability"), ("ablations", "ablations"),
       ("provenance", "provenance"))
LINKED_FILES = ("leaderboard.csv", "leaderboard.md", "analysis.md", "ablations.md", "cost.md", "scalability.md",
                "regrade.md")


def site_path() -> Path:
    return config.results_dir() / "site" / "index.html"


def pool_alias(pool: str, models: list[str]) -> str:
    """A short name for a pool: its own when named, else a named pool plus at most two extra
    candidates, else the number of candidates."""
    if pool in POOLS or len(pool) <= 24:
        return pool
    for name, members in POOLS.items():
        extra = [m for m in models if m not in members]
        if models[:len(members)] == members and len(extra) <= 2:
            return "+".join([name, *extra])
    return f"{len(models)} models"


def _aliases(stats: dict[GroupKey, GroupStats]) -> dict[str, str]:
    """pool -> alias, unique on the page (a clash gets a number)."""
    out: dict[str, str] = {}
    for pool in sorted({k[1] for k in stats}):
        models = next(s.runs[0].models for k, s in stats.items() if k[1] == pool)
        alias = pool_alias(pool, models)
        out[pool] = alias if alias not in out.values() else f"{alias} #{len(out) + 1}"
    return out


def _benches(stats: dict[GroupKey, GroupStats]) -> list[str]:
    return [b for b in PAPER_BENCHMARKS if any(b in s.benchmarks for s in stats.values())]


def _fmt_ci(ci: tuple[float, float] | None, digits: int = 1) -> str:
    return "" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _num(value: float, digits: int = 6) -> str:
    return "" if value != value else f"{value:.{digits}g}"


# --------------------------------------------------------------------------------------------
# Header and controls
# --------------------------------------------------------------------------------------------

def _select(ident: str, name: str, options: list[tuple[str, str, str]], chosen: str) -> str:
    """A labelled select; ``options``: (value, text, extra attributes)."""
    body = "".join(f'<option value="{esc(v)}"{" selected" if v == chosen else ""}{extra}>{esc(t)}</option>'
                   for v, t, extra in options)
    return f'<label>{name} <select id="{ident}">{body}</select></label>'


def default_view(stats: dict[GroupKey, GroupStats]) -> tuple[str, str]:
    groups = display_groups(stats)
    pools = {p for p, _ in groups}
    pool = MAIN_POOL if MAIN_POOL in pools else max(pools, key=lambda p: sum(len(k) for (q, _), k in groups.items() if q == p))
    protocols = [q for p, q in groups if p == pool]
    return pool, MAIN_PROTOCOL if MAIN_PROTOCOL in protocols else protocols[0]


def controls(stats: dict[GroupKey, GroupStats], aliases: dict[str, str]) -> str:
    groups = display_groups(stats)
    pool, protocol = default_view(stats)
    pool_opts = []
    for p in sorted(aliases, key=lambda p: (p != MAIN_POOL, aliases[p])):
        models = next(s.runs[0].models for k, s in stats.items() if k[1] == p)
        protos = esc(json.dumps([q for (pp, q) in groups if pp == p]))
        pool_opts.append((p, f"{aliases[p]} (T={len(models)})", f' title="{esc(", ".join(models))}" data-protocols="{protos}"'))
    protocols = sorted({q for _, q in groups}, key=lambda q: (q != MAIN_PROTOCOL, q))
    profiles = sorted({k[3] for k in stats if k[3] != "-"})
    return ('<div class="controls">'
            + _select("f-pool", "Pool", pool_opts, pool)
            + _select("f-protocol", "Protocol", [(q, q, "") for q in protocols], protocol)
            + _select("f-profile", "Profile", [("all", "all", "")] + [(p, p, "") for p in profiles], "all")
            + _select("f-kind", "Routers", [("all", "all", ""), ("learned", "learned", ""),
                                             ("reference", "reference", "")], "all")
            + _select("f-score", "Show", [("mu_n", "mu_n (normalized)", ""), ("mu_o", "mu_o (raw metric)", "")], "mu_n")
            + '<label><input type="checkbox" id="f-ci"> intervals per benchmark</label>'
            + '<label>Find <input type="search" id="f-search" placeholder="router"></label></div>')


def pool_info(stats: dict[GroupKey, GroupStats], aliases: dict[str, str]) -> str:
    from harness.core.pools import MODEL_PARAMS_B

    parts = []
    for pool, alias in aliases.items():
        models = next(s.runs[0].models for k, s in stats.items() if k[1] == pool)
        names = ", ".join(f"{m} ({MODEL_PARAMS_B[m]:g}B)" if m in MODEL_PARAMS_B else m for m in models)
        parts.append(f'<p class="poolinfo"{attrs(pool)}><b>{esc(alias)}</b>: {len(models)} candidates: {esc(names)}</p>')
    return "\n".join(parts)


def header(stats: dict[GroupKey, GroupStats], settings: Settings) -> str:
    runs = [r for s in stats.values() for r in s.runs]
    created = max((str(r.raw.get("provenance", {}).get("created", "")) for r in runs), default="")
    results = config.results_dir()
    links = [f'<a href="../{name}">{name}</a>' for name in LINKED_FILES if (results / name).exists()]
    links.append('<a href="../runs/">run files</a>')
    return ("<header><h1>LLM router leaderboard</h1>"
            f'<p class="muted">Lookahead-routing reproduction harness: {len(runs)} run files, latest {esc(created[:10])}. '
            "mu_n = 0 random, 100 oracle of the same pool; 95% intervals from "
            f"{settings.resamples} paired bootstrap resamples. Built by <code>make report</code>.</p>"
            f'<p class="muted links">{" ".join(links)}</p>'
            '<nav class="toc muted">' + " ".join(f'<a href="#{a}">{t}</a>' for a, t in TOC) + "</nav></header>")


# --------------------------------------------------------------------------------------------
# The main table
# --------------------------------------------------------------------------------------------

def _bench_cell(s: GroupStats, b: str) -> str:
    n, o = s.point_mu_n.get(b, math.nan), s.point_mu_o.get(b, math.nan)
    if n != n:
        return '<td data-sort="" data-sort-o="">–</td>'
    cn = interval(s.draws_mu_n[b]) if b in s.draws_mu_n else None
    co = interval(s.draws_mu_o[b]) if b in s.draws_mu_o else None
    tip = f"mu_n {n:.1f} {_fmt_ci(cn)} · mu_o {o:.2f} {_fmt_ci(co, 2)}"
    return (f'<td data-sort="{_num(n)}" data-sort-o="{_num(o)}" title="{esc(tip)}"><span class="cell">'
            f'<span class="n">{n:.1f}</span><span class="o">{o:.2f}</span></span>'
            f'<span class="ci cn">{_fmt_ci(cn)}</span><span class="ci co">{_fmt_ci(co, 2)}</span></td>')


def _row(s: GroupStats, pool: str, protocol: str, mark: str, rank: int | None, cost: analysis.CostPoint,
         benches: list[str]) -> str:
    router, _, run_protocol, profile = s.key
    avg = s.avg_point()
    ci = interval(s.avg_draws()) if s.scored() else None
    std = f" ± {s.avg_std():.1f} (std over {len(s.runs)} seeds)" if len(s.runs) > 1 else ""
    kind = "reference" if run_protocol == "none" else "learned"
    mark_cls = {"leader": "leader", "tied": "tied"}.get(mark, "")
    runs = " ".join(f'<a href="../runs/{esc(r.path.name)}">s{r.seed}</a>' for r in s.runs)
    cells = [f'<td data-sort="{"" if rank is None else rank}">{"–" if rank is None else rank}</td>',
             f'<td class="text router" data-sort="{esc(router)}" title="{esc(analysis.label(s.key))}">{esc(router)}'
             f'<span class="show-narrow muted"> {esc(profile if profile != "-" else "")}</span></td>',
             f'<td class="text hide-narrow">{esc(profile)}</td>',
             f'<td class="hide-narrow" data-sort="{len(s.runs)}">{len(s.runs)}</td>',
             f'<td class="avg" data-sort="{_num(avg)}" title="average mu_n {avg:.1f}{std}, 95% CI {_fmt_ci(ci)}">'
             f'{avg:.1f}<span class="ci">{_fmt_ci(ci)}</span></td>',
             f'<td class="text {mark_cls}" data-sort="{ {"leader": 0, "tied": 1}.get(mark, 2) }">'
             f'{esc(MARK_TEXT.get(mark, ""))}</td>']
    cells += [_bench_cell(s, b) for b in benches]
    cells += [f'<td data-sort="{_num(cost.params_mean_of_means)}">{cost.params_mean_of_means:.2f}</td>',
              f'<td data-sort="{_num(cost.gflops)}">{"–" if cost.gflops != cost.gflops else f"{cost.gflops:.4g}"}</td>',
              f'<td class="text hide-narrow">{runs}</td>']
    cls = ' class="ref"' if kind == "reference" else ""
    return (f'<tr{cls}{attrs(pool, protocol)} data-router="{esc(router)}" data-kind="{kind}" '
            f'data-profile="{esc(profile)}">' + "".join(cells) + "</tr>")


def leaderboard_table(stats: dict[GroupKey, GroupStats]) -> str:
    benches = _benches(stats)
    marks = tie_marks(stats)
    costs = {p.key: p for p in analysis.cost_points(stats)}
    rows = []
    for (pool, protocol), keys in display_groups(stats).items():
        mark = marks.get((pool, protocol), {})
        order = {"leader": 0, "tied": 1}  # equal averages: the leader first, then the tied
        ranked = sorted(keys, key=lambda k: (-stats[k].avg_point(), order.get(mark.get(k, ""), 2), k[0]))
        ranks = {k: i + 1 for i, k in enumerate(k for k in ranked if k[0] != "oracle")}
        rows += [_row(stats[k], pool, protocol, mark.get(k, ""), ranks.get(k), costs[k], benches) for k in ranked]
    head = ['<th title="rank by average mu_n (oracle excluded)">#</th>', '<th class="text router">Router</th>',
            '<th class="text hide-narrow">Profile</th>', '<th class="hide-narrow">Seeds</th>',
            "<th>Avg mu_n<span class=sub>95% CI</span></th>",
            '<th class="text">vs leader</th>']
    head += [f'<th title="{esc(title(b))}: mu_n (normalized), mu_o (raw)">{esc(title(b))}'
             f"<span class=sub>mu_n · mu_o</span></th>" for b in benches]
    head += ["<th>Params<span class=sub>B activated</span></th>", "<th>GFLOPs<span class=sub>router</span></th>",
             '<th class="text hide-narrow">Runs</th>']
    return ('<div class="scroll" id="board"><table id="leaderboard" class="sortable scores"><thead><tr>'
            + "".join(head) + "</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>")


LEGEND = ("<p class=\"muted\">Sorted by average mu_n over the benchmarks. ▲ leader of its pool and protocol (oracle "
          "excluded); ≈ statistically tied with it (paired bootstrap, p ≥ 0.05). Reference routers (random, oracle, "
          "fixed; in italics) are shown beside every protocol. Each benchmark cell: mu_n, and the benchmark's own "
          "metric (mu_o) beneath; hover for both intervals. Several seeds: mean, ± the std over seeds, the interval "
          "over items and seeds. Click a header to sort.</p>")


# --------------------------------------------------------------------------------------------
# Per-benchmark view and plots
# --------------------------------------------------------------------------------------------

def per_benchmark(stats: dict[GroupKey, GroupStats]) -> str:
    benches = _benches(stats)
    pick = '<div class="controls" style="position:static">' + _select(
        "f-bench", "Benchmark", [(b, title(b), "") for b in benches], benches[0] if benches else "") + "</div>"
    parts = [pick]
    for (pool, protocol), keys in display_groups(stats).items():
        for b in benches:
            members = sorted((stats[k] for k in keys if b in stats[k].point_mu_n), key=lambda s: -s.point_mu_o[b])
            if not members:
                continue
            rows = []
            for i, s in enumerate(members, start=1):
                n, o = s.point_mu_n[b], s.point_mu_o[b]
                cn = interval(s.draws_mu_n[b]) if b in s.draws_mu_n else None
                co = interval(s.draws_mu_o[b]) if b in s.draws_mu_o else None
                kind = "reference" if s.key[2] == "none" else "learned"
                rows.append(f'<tr data-router="{esc(s.router)}" data-kind="{kind}" data-profile="{esc(s.key[3])}">'
                            f'<td data-sort="{i}">{i}</td><td class="text router">{esc(analysis.label(s.key))}</td>'
                            f'<td data-sort="{_num(o)}">{o:.2f} <span class="ci">{_fmt_ci(co, 2)}</span></td>'
                            f'<td data-sort="{_num(n)}">{n:.1f} <span class="ci">{_fmt_ci(cn)}</span></td>'
                            f'<td data-sort="{len(s.runs[0].benchmarks[b].ids)}">{len(s.runs[0].benchmarks[b].ids)}</td></tr>')
            metric = _metric(b)
            parts.append(f'<div{attrs(pool, protocol)} data-bench="{esc(b)}"><div class="scroll">'
                         f'<table class="sortable"><thead><tr><th>#</th><th class="text">Router</th>'
                         f"<th>mu_o<span class=sub>{esc(metric)}, 95% CI</span></th><th>mu_n<span class=sub>95% CI"
                         "</span></th><th>items</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div></div>")
    return "\n".join(parts)


def _metric(bench: str) -> str:
    from benchmarks import get_benchmark

    try:
        return get_benchmark(bench).metric
    except Exception:  # a benchmark no longer registered: its name only
        return bench


def plots(stats: dict[GroupKey, GroupStats]) -> str:
    benches = _benches(stats)
    parts = []
    for (pool, protocol), keys in display_groups(stats).items():
        members = sorted((stats[k] for k in keys), key=lambda s: -s.avg_point())
        dots = [Dot(analysis.label(s.key), s.avg_point(), interval(s.avg_draws()) if s.scored() else None,
                    s.key[2] == "none") for s in members]
        plot = dot_plot(dots, fig_id("avg", pool, protocol), "average mu_n (95% CI; 0 = random, 100 = oracle)")
        parts.append(plot.figure("Average mu_n with its 95% interval, every router of the pool and protocol; "
                                 "references in grey.", attrs(pool, protocol)))
        rows = [(analysis.label(s.key), s.key[2] == "none",
                 {b: (s.point_mu_n[b], interval(s.draws_mu_n[b]) if b in s.draws_mu_n else None)
                  for b in s.benchmarks}) for s in members if s.router not in ("oracle", "random")]
        if rows:
            multi = bench_dots(rows, [(b, title(b)) for b in benches], fig_id("bench", pool, protocol))
            parts.append(multi.figure("mu_n per benchmark with 95% intervals (oracle = 100 and random = 0 not drawn); "
                                      "routers in the order of their average.", attrs(pool, protocol)))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

def page(stats: dict[GroupKey, GroupStats], settings: Settings,
         pairs: list[tuple[GroupKey, GroupKey]] | None = None) -> str:
    aliases = _aliases(stats)
    scope = ('<div class="controls" style="position:static">' + _select(
        "f-scope", "Items", [("all", "all benchmarks", "")] + [(b, title(b), "") for b in PAPER_BENCHMARKS], "all")
        + "</div>")
    sections = [
        header(stats, settings), controls(stats, aliases), pool_info(stats, aliases),
        leaderboard_table(stats), LEGEND,
        '<h2 id="per-benchmark">Per benchmark</h2>', per_benchmark(stats),
        '<h2 id="plots">Plots</h2>', plots(stats),
        '<h2 id="proportions">Routing proportions</h2><p class="muted">Share of items (%) routed to each candidate '
        "(mean over seeds). Random and fixed routers are left out.</p>", scope, proportions_html(stats),
        '<h2 id="wtl">Win / tie / loss by difficulty</h2><p class="muted">Binary-verdict benchmarks (GSM8K, MATH, '
        "HumanEval, MBPP) summed; k = candidates of the pool that answered the item correctly (k = 0 or all: ties "
        "for every router, left out). Details per benchmark: analysis.md.</p>", wtl_html(stats, pairs),
        '<h2 id="cost">Quality against cost</h2>', cost_html(stats), curves_html(), *md_reports("cost", open_=False),
        '<h2 id="scalability">Scalability</h2>', scalability_html(stats),
        '<h2 id="ablations">Ablations</h2>',
        "\n".join(md_reports("ablations")) or '<p class="muted">No results/ablations.md yet (<code>make ablations'
                                               "</code>).</p>",
        '<h2 id="provenance">Provenance</h2><p class="muted">Each row\'s run files (commit, data manifest, imported '
        "candidate files) and configuration.</p>", provenance_html(stats),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>LLM router leaderboard</title><style>{CSS}</style></head><body>\n"
            + "\n".join(sections) + f"\n<script>{JS}</script>\n</body></html>\n")


def write_site(stats: dict[GroupKey, GroupStats], settings: Settings,
               pairs: list[tuple[GroupKey, GroupKey]] | None = None) -> Path:
    path = site_path()
    atomic_write_text(path, page(stats, settings, pairs))
    return path
