"""The leaderboard page's sections below the main table (:mod:`harness.report.site` assembles them):
routing proportions, win/tie/loss by difficulty, quality against cost (table and scatter), the
cost–quality curves of ``routing-harness costcurve`` when ``results/costcurve/`` has them, the
scalability plot, the committed Markdown reports (ablations, scalability, cost) as HTML, and each
row's provenance. Every piece of a (pool, protocol) carries ``data-pool`` / ``data-protocol`` so the
page's view selects it. Imports: core and the report modules below it.
"""
from __future__ import annotations

import hashlib
import html
import json
import math
import re

from benchmarks import PAPER_BENCHMARKS
from harness.core import config
from harness.report import analysis
from harness.report.bootstrap import GroupStats, interval
from harness.report.runs import GroupKey
from harness.report.ranking import display_groups
from harness.report.site_plots import Plot, cost_scatter, curve_plot, lines_plot

SCALABILITY_BENCHMARKS = ["alpacaeval", "math", "humaneval"]


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def title(bench: str) -> str:
    from benchmarks import get_benchmark

    try:
        return get_benchmark(bench).title
    except Exception:  # an unregistered benchmark name from a run file: show it as is
        return bench


def attrs(pool: str, protocol: str | None = None) -> str:
    return f' data-pool="{esc(pool)}"' + ("" if protocol is None else f' data-protocol="{esc(protocol)}"')


def fig_id(*parts: str) -> str:
    """A figure's id prefix, stable across runs (the page is deterministic) and unique per figure."""
    digest = hashlib.sha1("\x00".join(parts).encode()).hexdigest()[:6]
    return "f" + re.sub(r"[^A-Za-z0-9]+", "-", "-".join(parts))[:40] + "-" + digest


def _scroll(table: str) -> str:
    return f'<div class="scroll">{table}</div>'


# --------------------------------------------------------------------------------------------
# Routing proportions and win/tie/loss
# --------------------------------------------------------------------------------------------

def proportions_html(stats: dict[GroupKey, GroupStats]) -> str:
    """Per pool and scope (all benchmarks, or one): the share of items routed to each candidate."""
    parts = []
    for pool in sorted({k[1] for k in stats}):
        keys = sorted((k for k in stats if k[1] == pool and k[0] != "random" and not k[0].startswith("fixed:")),
                      key=lambda k: -stats[k].avg_point())
        if not keys:
            continue
        models = stats[keys[0]].runs[0].models
        for scope in ["all", *PAPER_BENCHMARKS]:
            rows = []
            for key in keys:
                s = stats[key]
                shares = analysis.routing_shares(s, s.benchmarks if scope == "all" else [scope])
                if shares is None:
                    continue
                cells = "".join(f'<td class="share" data-sort="{100 * x:.3f}">{100 * x:.1f}'
                                f'<span class="bar" style="width:{2.2 * x:.2f}em"></span></td>' for x in shares)
                protocol = "*" if key[2] == "none" else key[2]
                rows.append(f'<tr data-router="{esc(key[0])}" data-kind="{_kind(key)}" data-profile="{esc(key[3])}" '
                            f'data-protocol="{esc(protocol)}"><td class="text router">{esc(analysis.label(key))}</td>{cells}</tr>')
            if rows:
                head = "".join(f'<th title="{esc(m)}">{esc(_short_model(m))}</th>' for m in models)
                parts.append(f'<div{attrs(pool)} data-scope="{esc(scope)}">' + _scroll(
                    f'<table class="sortable"><thead><tr><th class="text">Router</th>{head}</tr></thead>'
                    f"<tbody>{''.join(rows)}</tbody></table>") + "</div>")
    return "\n".join(parts) or '<p class="muted">No learned router has run files yet.</p>'


def _short_model(model: str) -> str:
    return model.replace("-Instruct", "").replace("-instruct", "").replace("-Chat", "").replace("-chat", "")


def _kind(key: GroupKey) -> str:
    return "reference" if key[2] == "none" else "learned"


def wtl_html(stats: dict[GroupKey, GroupStats], pairs: list[tuple[GroupKey, GroupKey]] | None) -> str:
    """Win/tie/loss of A against B on binary-verdict benchmarks, by how many candidates were right:
    one table per pool and protocol, a row per pair, a column per k (A wins / B wins; ties on hover)."""
    pairs = pairs if pairs is not None else analysis.default_pairs(stats)
    groups = display_groups(stats)
    tables: dict[tuple[str, str], list[tuple[GroupKey, GroupKey, dict]]] = {}
    for a, b in pairs:
        rows = analysis.win_tie_loss(stats[a], stats[b])
        by_k = {}
        for k in sorted({r.k for r in rows}):
            sel = [r for r in rows if r.k == k]
            by_k[k] = tuple(sum(getattr(r, f) for r in sel) for f in ("items", "win", "tie", "loss"))
        for (pool, protocol), keys in groups.items():
            if by_k and a in keys and b in keys:
                tables.setdefault((pool, protocol), []).append((a, b, by_k))
    parts = []
    for (pool, protocol), entries in tables.items():
        ks = sorted({k for _, _, by_k in entries for k in by_k})
        items = {k: next(by_k[k][0] for _, _, by_k in entries if k in by_k) for k in ks}
        head = "".join(f"<th>k = {k}<span class=sub>{items[k]} items</span></th>" for k in ks)
        body = []
        for a, b, by_k in entries:
            cells, net = [], 0.0
            for k in ks:
                if k not in by_k:
                    cells.append("<td>–</td>")
                    continue
                n, win, tie, loss = by_k[k]
                net += win - loss
                cells.append(f'<td data-sort="{win - loss:.4f}" title="k = {k}: {n} items; A wins {win:.1f}, ties '
                             f'{tie:.1f}, B wins {loss:.1f}"><span class="win">{_count(win)}</span> / '
                             f'<span class="loss">{_count(loss)}</span></td>')
            body.append(f'<tr><td class="text router">{esc(analysis.label(a))}</td><td class="text">'
                        f'{esc(analysis.label(b))}</td>{"".join(cells)}<td data-sort="{net:.4f}">{net:+.1f}</td></tr>')
        parts.append(f"<div{attrs(pool, protocol)}>" + _scroll(
            '<table class="sortable"><thead><tr><th class="text">A</th><th class="text">B</th>' + head
            + "<th>A − B<span class=sub>all k</span></th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")
            + "</div>")
    return "\n".join(parts) or '<p class="muted">No pair of routers to compare yet.</p>'


def _count(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 else f"{x:.1f}"


# --------------------------------------------------------------------------------------------
# Quality against cost, cost–quality curves, scalability
# --------------------------------------------------------------------------------------------

def cost_html(stats: dict[GroupKey, GroupStats]) -> str:
    points = analysis.cost_points(stats)
    parts = []
    for pool in sorted({p.key[1] for p in points}):
        members = sorted((p for p in points if p.key[1] == pool), key=lambda p: -p.avg_mu_n)
        models = stats[members[0].key].runs[0].models
        rows = []
        for p in members:
            ci = "–" if p.ci is None else f"[{p.ci[0]:.1f}, {p.ci[1]:.1f}]"
            gf = "–" if p.gflops != p.gflops else f"{p.gflops:.4g}"
            rows.append(f'<tr data-router="{esc(p.key[0])}" data-kind="{_kind(p.key)}" data-profile="{esc(p.key[3])}" '
                        f'data-protocol="{esc("*" if p.key[2] == "none" else p.key[2])}">'
                        f'<td class="text router">{esc(analysis.label(p.key))}</td>'
                        f'<td data-sort="{p.avg_mu_n:.4f}">{p.avg_mu_n:.1f}</td><td>{ci}</td>'
                        f'<td data-sort="{p.params_mean_of_means:.4f}">{p.params_mean_of_means:.2f}</td>'
                        f'<td data-sort="{p.params_pooled:.4f}">{p.params_pooled:.2f}</td>'
                        f'<td data-sort="{"" if p.gflops != p.gflops else f"{p.gflops:.6g}"}">{gf}</td></tr>')
        parts.append(f"<div{attrs(pool)}>" + _scroll(
            '<table class="sortable"><thead><tr><th class="text">Router</th><th>Avg mu_n</th><th>95% CI</th>'
            "<th>Params (B)<span class=sub>mean of benchmark means</span></th><th>Params (B)<span class=sub>pooled"
            "</span></th><th>Router GFLOPs</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>") + "</div>")
        scatter = [(analysis.label(p.key), p.params_mean_of_means, p.avg_mu_n, p.ci, p.key[2] == "none")
                   for p in members]
        total = analysis.ensemble_params(models)
        plot = cost_scatter(scatter, "activated candidate parameters per query (B, mean of benchmark means)",
                            fig_id("cost", pool), ensemble=(total, "ensemble: all candidates + judge"))
        parts.append(plot.figure(f"Quality against activated parameters, pool {esc(pool)}; the ensemble runs "
                                 "every candidate (≤ 100; the judge not counted).", attrs(pool)))
        if any(p.gflops == p.gflops for p in members):
            measured = [(s[0], p.gflops, s[2], s[3], s[4]) for s, p in zip(scatter, members) if p.gflops == p.gflops]
            gplot = cost_scatter(measured, "router GFLOPs per query", fig_id("gflops", pool))
            parts.append(gplot.figure(f"Quality against router GFLOPs per query, pool {esc(pool)}.", attrs(pool)))
    return "\n".join(parts)


def curves_html() -> str:
    """``routing-harness costcurve``'s curves (results/costcurve/*.json), one figure per pool."""
    try:
        from harness.report.curves import load_curves

        curves = load_curves()
    except Exception:  # the curves module or its files in another shape: the page goes on without them
        return ""
    by_pool: dict[str, list[dict]] = {}
    for c in curves:
        if isinstance(c, dict) and isinstance(c.get("average"), dict) and c.get("pool"):
            by_pool.setdefault(str(c["pool"]), []).append(c)
    parts = []
    for pool, members in sorted(by_pool.items()):
        series = {analysis.label((c["router"], pool, c.get("protocol", "?"), c.get("profile", "?"))) + f" s{c.get('seed', 0)}":
                  [(p["usd_per_item"], p["mu_n"]) for p in c["average"].get("router", [])] for c in members}
        series = {k: v for k, v in series.items() if v}
        first = members[0]["average"]
        singles = [(s["model"], s["usd_per_item"], s["mu_n"]) for s in first.get("single", [])]
        oracle = [(p["usd_per_item"], p["mu_n"]) for p in first.get("oracle", [])]
        if not series:
            continue
        plot = curve_plot(series, singles, oracle, fig_id("curve", pool))
        aiq = ", ".join(f"{esc(name)} {c['average'].get('aiq', {}).get('router', math.nan):.1f}"
                        for name, c in zip(series, members))
        parts.append(plot.figure(f"Cost–quality curves, pool {esc(pool)}: average mu_n against USD per item as "
                                 f"the willingness to pay varies (<code>routing-harness costcurve</code>). AIQ: {aiq}.",
                                 attrs(pool)))
    return "\n".join(parts)


def scalability_html(stats: dict[GroupKey, GroupStats]) -> str:
    series: dict[tuple[str, str, str], list[GroupStats]] = {}
    for key, s in stats.items():
        if key[2] != "none":
            series.setdefault((key[0], key[2], key[3]), []).append(s)
    series = {k: sorted(v, key=lambda s: len(s.runs[0].models)) for k, v in series.items()
              if len({len(s.runs[0].models) for s in v}) >= 2}
    parts = []
    if series:
        panels = []
        for bench in SCALABILITY_BENCHMARKS:
            lines = {}
            for (router, protocol, profile), groups in series.items():
                pts = [(len(g.runs[0].models), g.point_mu_o[bench],
                        interval(g.draws_mu_o[bench]) if bench in g.draws_mu_o else None)
                       for g in groups if bench in g.point_mu_o]
                if pts:
                    lines[f"{router} ({protocol}/{profile})"] = pts
            panels.append((title(bench), lines))
        plot = lines_plot(panels, "candidates T", "mu_o", fig_id("scalability"))
        parts.append(plot.figure("Raw score (mu_o, 95% interval) against the number of candidates, for routers "
                                 "with runs on several pool sizes."))
    for md in md_reports("scalability"):
        parts.append(md)
    return "\n".join(parts) or ('<p class="muted">No scalability data yet: needs runs of one router on several pool '
                                "sizes, or results/scalability.md (<code>make scalability</code>).</p>")


# --------------------------------------------------------------------------------------------
# The Markdown reports, provenance
# --------------------------------------------------------------------------------------------

def md_reports(stem: str, open_: bool = True) -> list[str]:
    """``results/<stem>.md`` and ``results/<stem>_*.md`` as HTML, each under its file name."""
    results = config.results_dir()
    out = []
    for md in [results / f"{stem}.md", *sorted(results.glob(f"{stem}_*.md"))]:
        if md.exists():
            out.append(f'<details class="md"{" open" if open_ else ""}><summary>results/{esc(md.name)} '
                       f'(<a href="../{esc(md.name)}">Markdown</a>)</summary>'
                       f"{markdown_html(md.read_text(encoding='utf-8'))}</details>")
    return out


def _inline(text: str) -> str:
    """Escaped text with Markdown's code, bold, italic and links."""
    out = esc(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"\1", out)  # link targets are repository paths: text only


def markdown_html(text: str) -> str:
    """A Markdown subset (headings, pipe tables, lists, paragraphs) as HTML."""
    out, table, items = [], [], []

    def flush() -> None:
        if table:
            rows = [r for r in table if not re.fullmatch(r"\|?[\s:|-]+\|?", r)]
            cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
            head = "".join(f"<th class=text>{_inline(c)}</th>" for c in cells[0])
            body = "".join("<tr>" + "".join(f"<td class=text>{_inline(c)}</td>" for c in r) + "</tr>" for r in cells[1:])
            out.append(_scroll(f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'))
            table.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            table.append(stripped)
            continue
        if stripped.startswith(("- ", "* ")):
            items.append(stripped[2:])
            continue
        flush()
        if stripped.startswith("#"):
            level = min(6, len(stripped) - len(stripped.lstrip("#")) + 2)
            out.append(f"<h{level}>{_inline(stripped.lstrip('#').strip())}</h{level}>")
        elif stripped and not stripped.startswith("```"):
            out.append(f"<p>{_inline(stripped)}</p>")
    flush()
    return "\n".join(out)


def provenance_html(stats: dict[GroupKey, GroupStats]) -> str:
    parts = []
    for key, s in stats.items():
        rows = []
        for run in s.runs:
            prov = run.raw.get("provenance", {})
            imported = sorted(prov.get("candidate_files") or {})
            rows.append(f'<tr><td class=text><a href="../runs/{esc(run.path.name)}">{esc(run.path.name)}</a></td>'
                        f"<td>{esc(run.seed)}</td><td class=text>{esc(str(prov.get('commit', '?'))[:12])}</td>"
                        f"<td class=text>{esc(prov.get('data_manifest', '?'))}</td>"
                        f"<td class=text>{esc(prov.get('created', '?'))}</td>"
                        f"<td class=text>{esc(', '.join(imported)) or '–'}</td></tr>")
        conf = {"config": s.runs[0].raw.get("config"), "router_config": s.runs[0].raw.get("router_config")}
        protocol = "*" if key[2] == "none" else key[2]
        parts.append(f"<details{attrs(key[1], protocol)}><summary>{esc(analysis.label(key))}</summary>" + _scroll(
            "<table><thead><tr><th class=text>run file</th><th>seed</th><th class=text>commit</th>"
            "<th class=text>data manifest</th><th class=text>created</th><th class=text>imported files</th></tr>"
            "</thead><tbody>" + "".join(rows) + "</tbody></table>")
            + "<pre>" + esc(json.dumps(conf, indent=1, sort_keys=True)) + "</pre></details>")
    return "\n".join(parts)


__all__ = ["Plot", "attrs", "cost_html", "curves_html", "esc", "fig_id", "markdown_html", "md_reports",
           "proportions_html", "provenance_html", "scalability_html", "title", "wtl_html"]
