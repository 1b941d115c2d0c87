"""The static leaderboard page ``results/site/index.html``: one self-contained file (inline CSS, JS and
SVG plots made with matplotlib; no CDN, no server) with a sortable, filterable leaderboard, intervals
and tied-with-leader marks, per-benchmark bars, the quality-cost plot, the scalability plot when
runs on several pool sizes exist, and each router's provenance."""
from __future__ import annotations

import html
import io
import json
import math
import re
from pathlib import Path

import numpy as np

from benchmarks import PAPER_BENCHMARKS
from harness.report import analysis
from harness.core import config
from harness.core.io import atomic_write_text
from harness.report.bootstrap import GroupStats, Settings, interval
from harness.report.runs import GroupKey
from harness.report.ranking import display_groups, tie_marks

SCALABILITY_BENCHMARKS = ["alpacaeval", "math", "humaneval"]
MARK_TEXT = {"leader": "▲ leader", "tied": "≈ tied", "behind": ""}


def site_path() -> Path:
    return config.results_dir() / "site" / "index.html"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _title(bench: str) -> str:
    from benchmarks import get_benchmark

    try:
        return get_benchmark(bench).title
    except Exception:  # an unregistered benchmark name from a run file: show it as is
        return bench


# --------------------------------------------------------------------------------------------
# Plots (matplotlib -> inline SVG, deterministic: fixed hash salt, no date)
# --------------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "routing-harness", "svg.fonttype": "none", "font.size": 9})
    return plt


def svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _plt().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inline in HTML


def _err(ci: tuple[float, float] | None, value: float) -> tuple[float, float]:
    return (0.0, 0.0) if ci is None else (max(value - ci[0], 0.0), max(ci[1] - value, 0.0))


def bench_bars(members: list[GroupStats]) -> str:
    """Grouped bars of mu_n per benchmark (and the average) with 95% intervals."""
    plt = _plt()
    shown = [m for m in members if m.router not in ("oracle", "random")]
    benches = [b for b in PAPER_BENCHMARKS if any(b in m.benchmarks for m in shown)] + ["average"]
    fig, ax = plt.subplots(figsize=(10, 3.6))
    width = 0.8 / max(1, len(shown))
    for j, m in enumerate(shown):
        values, errs = [], []
        for b in benches:
            if b == "average":
                v, ci = m.avg_point(), (interval(m.avg_draws()) if m.scored() else None)
            else:
                v = m.point_mu_n.get(b, math.nan)
                ci = interval(m.draws_mu_n[b]) if b in m.draws_mu_n else None
            values.append(v)
            errs.append(_err(ci, v))
        x = np.arange(len(benches)) + (j - (len(shown) - 1) / 2) * width
        ax.bar(x, values, width, yerr=np.array(errs).T, capsize=2, label=analysis.label(m.key))
    ax.axhline(0, color="grey", lw=0.8)
    ax.axhline(100, color="grey", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(benches)), [_title(b) if b != "average" else "Average" for b in benches])
    ax.set_ylabel("mu_n (0 = random, 100 = oracle)")
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return svg(fig)


def cost_plot(points: list[analysis.CostPoint], models: list[str], x_attr: str, x_label: str,
              ensemble: bool) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for p in points:
        x = getattr(p, x_attr)
        if x != x:
            continue
        ax.errorbar([x], [p.avg_mu_n], yerr=np.array([_err(p.ci, p.avg_mu_n)]).T, fmt="o", capsize=3)
        ax.annotate(analysis.label(p.key), (x, p.avg_mu_n), fontsize=7, xytext=(4, 3), textcoords="offset points")
    if ensemble:
        total = analysis.ensemble_params(models)
        ax.plot([total], [100], marker="v", color="black")
        ax.annotate("ensemble: all candidates + judge (≤ 100; judge not counted)", (total, 100), fontsize=7,
                    xytext=(-6, -12), textcoords="offset points", ha="right")
    ax.set_xlabel(x_label)
    ax.set_ylabel("average mu_n (95% CI)")
    ax.grid(alpha=0.3)
    return svg(fig)


def scalability_series(stats: dict[GroupKey, GroupStats]) -> dict[tuple[str, str, str], list[GroupStats]]:
    """(router, protocol, profile) -> its groups on pools of different sizes (two or more)."""
    by_router: dict[tuple[str, str, str], list[GroupStats]] = {}
    for key, s in stats.items():
        if key[0] in ("random", "oracle") or key[0].startswith("fixed:"):
            continue
        by_router.setdefault((key[0], key[2], key[3]), []).append(s)
    return {k: sorted(v, key=lambda s: len(s.runs[0].models)) for k, v in by_router.items()
            if len({len(s.runs[0].models) for s in v}) >= 2}


def scalability_plot(series: dict[tuple[str, str, str], list[GroupStats]]) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, len(SCALABILITY_BENCHMARKS), figsize=(10, 3.2))
    for ax, bench in zip(axes, SCALABILITY_BENCHMARKS):
        for (router, protocol, profile), groups in series.items():
            pts = [(len(g.runs[0].models), g.point_mu_o[bench], g) for g in groups if bench in g.point_mu_o]
            if not pts:
                continue
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            errs = [_err(interval(g.draws_mu_o[bench]) if bench in g.draws_mu_o else None, y) for _, y, g in pts]
            ax.errorbar(xs, ys, yerr=np.array(errs).T, marker="o", capsize=3, label=f"{router} ({protocol})")
        ax.set_title(_title(bench))
        ax.set_xlabel("candidates T")
        ax.set_ylabel("mu_o")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return svg(fig)


# --------------------------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}
h1{margin-bottom:.2em} .muted{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0} .scroll{overflow-x:auto}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;cursor:pointer;user-select:none;position:sticky;top:0}
th.sorted-asc::after{content:" ▲"} th.sorted-desc::after{content:" ▼"}
td.text,th.text{text-align:left} .ci{color:#666;font-size:.85em}
tr.ref td{background:#fafafa} .leader{color:#0a6b0a;font-weight:600} .tied{color:#8a5a00}
.filters{margin:.6em 0} .filters label{margin-right:1.2em}
figure{margin:.8em 0} figcaption{font-size:.9em;color:#444}
details{margin:.3em 0} pre{background:#f6f6f6;padding:.5em;overflow:auto;font-size:.8em}
"""

JS = """
(function(){
  const table=document.getElementById('leaderboard');
  const body=table.tBodies[0];
  function key(td){const v=td.getAttribute('data-sort');const n=parseFloat(v);
    return (v!==null&&v!==''&&!isNaN(n))?n:(v===null?td.textContent.trim():v);}
  table.querySelectorAll('th').forEach(function(th,col){
    th.addEventListener('click',function(){
      const asc=!th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      const rows=Array.from(body.rows);
      rows.sort(function(a,b){const x=key(a.cells[col]),y=key(b.cells[col]);
        if(typeof x==='number'&&typeof y==='number'){return asc?x-y:y-x;}
        if(typeof x==='number')return -1; if(typeof y==='number')return 1;
        return asc?String(x).localeCompare(String(y)):String(y).localeCompare(String(x));});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  const pool=document.getElementById('f-pool'),proto=document.getElementById('f-protocol');
  function apply(){
    document.querySelectorAll('[data-pool]').forEach(function(el){
      const ok=(pool.value==='all'||el.getAttribute('data-pool')===pool.value)&&
               (proto.value==='all'||el.getAttribute('data-protocol')==='*'||el.getAttribute('data-protocol')===proto.value);
      el.style.display=ok?'':'none';});
  }
  pool.addEventListener('change',apply); proto.addEventListener('change',apply); apply();
})();
"""


def _num_cell(value: float, text: str, extra: str = "") -> str:
    """A numeric cell; ``data-sort`` carries the raw value (empty when missing) for the page's sorter."""
    sort = "" if value != value else f"{value:.6g}"
    return f'<td data-sort="{sort}">{text}{extra}</td>'


def _ci_span(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f' <span class="ci">[{ci[0]:.1f}, {ci[1]:.1f}]</span>'


def table_rows(stats: dict[GroupKey, GroupStats], benches: list[str]) -> list[str]:
    marks = tie_marks(stats)
    points = {p.key: p for p in analysis.cost_points(stats)}
    rows = []
    for (pool, protocol), keys in display_groups(stats).items():
        for key in sorted(keys, key=lambda k: -stats[k].avg_point()):
            rows.append(_row(stats[key], pool, protocol, marks.get((pool, protocol), {}).get(key, ""),
                             points[key], benches))
    return rows


def _row(s: GroupStats, pool: str, protocol: str, mark: str, cost: analysis.CostPoint,
         benches: list[str]) -> str:
    router, _, run_protocol, profile = s.key
    avg_ci = interval(s.avg_draws()) if s.scored() else None
    std = f' <span class="ci">± {s.avg_std():.1f} (seeds)</span>' if len(s.runs) > 1 else ""
    mark_cls = {"leader": "leader", "tied": "tied"}.get(mark, "")
    cells = [f'<td class="text" data-sort="{esc(router)}">{esc(router)}</td>',
             f'<td class="text">{esc(pool)}</td>', f'<td class="text">{esc(run_protocol)}</td>',
             f'<td class="text">{esc(profile)}</td>', _num_cell(len(s.runs), str(len(s.runs))),
             _num_cell(s.avg_point(), f"{s.avg_point():.1f}", _ci_span(avg_ci) + std),
             f'<td class="text {mark_cls}" data-sort="{ {"leader": 0, "tied": 1}.get(mark, 2) }">'
             f'{esc(MARK_TEXT.get(mark, ""))}</td>']
    for b in benches:
        v = s.point_mu_n.get(b, math.nan)
        text = "–" if v != v else f"{v:.1f}"
        cells.append(_num_cell(v, text, _ci_span(interval(s.draws_mu_n[b]) if b in s.draws_mu_n else None)))
    cells.append(_num_cell(cost.params_mean_of_means, f"{cost.params_mean_of_means:.2f}"))
    cells.append(_num_cell(cost.gflops, "–" if cost.gflops != cost.gflops else f"{cost.gflops:.4g}"))
    cls = ' class="ref"' if run_protocol == "none" else ""
    return (f'<tr{cls} data-pool="{esc(pool)}" data-protocol="{esc(protocol)}" data-router="{esc(router)}">'
            + "".join(cells) + "</tr>")


def leaderboard_table(stats: dict[GroupKey, GroupStats]) -> str:
    benches = [b for b in PAPER_BENCHMARKS if any(b in s.benchmarks for s in stats.values())]
    head = ['<th class="text">Router</th>', '<th class="text">Pool</th>', '<th class="text">Protocol</th>',
            '<th class="text">Profile</th>', "<th>Seeds</th>", "<th>Avg mu_n [95% CI]</th>",
            '<th class="text">vs leader</th>']
    head += [f"<th>{esc(_title(b))} mu_n</th>" for b in benches]
    head += ["<th>Activated params (B)</th>", "<th>Router GFLOPs</th>"]
    return ('<table id="leaderboard"><thead><tr>' + "".join(head) + "</tr></thead><tbody>\n"
            + "\n".join(table_rows(stats, benches)) + "\n</tbody></table>")


def filters(stats: dict[GroupKey, GroupStats]) -> str:
    groups = display_groups(stats)
    pools = sorted({p for p, _ in groups})
    protocols = sorted({q for _, q in groups})

    def select(ident: str, name: str, values: list[str]) -> str:
        options = '<option value="all">all</option>' + "".join(
            f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
        return f'<label>{name} <select id="{ident}">{options}</select></label>'
    return ('<div class="filters">' + select("f-pool", "Pool", pools)
            + select("f-protocol", "Protocol", protocols) + "</div>")


def figures_bench(stats: dict[GroupKey, GroupStats]) -> str:
    parts = []
    for (pool, protocol), keys in display_groups(stats).items():
        members = sorted((stats[k] for k in keys), key=lambda s: -s.avg_point())
        if not any(m.router not in ("oracle", "random") for m in members):
            continue
        parts.append(f'<figure data-pool="{esc(pool)}" data-protocol="{esc(protocol)}">{bench_bars(members)}'
                     f"<figcaption>mu_n per benchmark with 95% intervals: pool {esc(pool)}, protocol "
                     f"{esc(protocol)} (oracle = 100 and random = 0 not drawn).</figcaption></figure>")
    return "\n".join(parts)


def figures_cost(stats: dict[GroupKey, GroupStats]) -> str:
    parts = []
    points = analysis.cost_points(stats)
    for pool in sorted({p.key[1] for p in points}):
        members = [p for p in points if p.key[1] == pool]
        models = stats[members[0].key].runs[0].models
        parts.append(f'<figure data-pool="{esc(pool)}" data-protocol="*">'
                     + cost_plot(members, models, "params_mean_of_means",
                                 "activated candidate parameters per query (B, mean of benchmark means)", True)
                     + f"<figcaption>Quality against activated parameters, pool {esc(pool)}.</figcaption></figure>")
        if any(p.gflops == p.gflops for p in members):
            parts.append(f'<figure data-pool="{esc(pool)}" data-protocol="*">'
                         + cost_plot(members, models, "gflops", "router GFLOPs per query", False)
                         + f"<figcaption>Quality against router GFLOPs, pool {esc(pool)}.</figcaption></figure>")
    return "\n".join(parts)


def scalability_html(stats: dict[GroupKey, GroupStats]) -> str:
    series = scalability_series(stats)
    parts = []
    if series:
        parts.append(f"<figure>{scalability_plot(series)}<figcaption>Raw score (mu_o, 95% interval) against the "
                     "number of candidates, for routers with runs on several pool sizes.</figcaption></figure>")
    results = config.results_dir()
    for md in [results / "scalability.md", *sorted(results.glob("scalability_*.md"))]:  # then optional pools
        if md.exists():
            parts.append(f"<h3>results/{md.name}</h3>{markdown_tables(md.read_text(encoding='utf-8'))}")
    if not parts:
        parts.append('<p class="muted">No scalability data yet: needs runs of one router on several pool sizes '
                     "(paper3 / paper5 / paper8) or results/scalability.md.</p>")
    return "\n".join(parts)


def markdown_tables(text: str) -> str:
    """A small markdown subset (headings, pipe tables, paragraphs) as HTML, escaped."""
    out, table = [], []

    def flush() -> None:
        if table:
            rows = [r for r in table if not re.fullmatch(r"\|?[\s:|-]+\|?", r)]
            cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
            head = "".join(f"<th>{esc(c)}</th>" for c in cells[0])
            body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in cells[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            table.clear()
    for line in text.splitlines():
        if line.strip().startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = min(6, len(line) - len(line.lstrip("#")) + 2)
            out.append(f"<h{level}>{esc(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{esc(line)}</p>")
    flush()
    return "\n".join(out)


def provenance_html(stats: dict[GroupKey, GroupStats]) -> str:
    parts = []
    for key, s in stats.items():
        rows = []
        for run in s.runs:
            prov = run.raw.get("provenance", {})
            rows.append(f"<tr><td class=text>{esc(run.path.name)}</td><td>{esc(run.seed)}</td>"
                        f"<td class=text>{esc(prov.get('commit', '?'))}</td>"
                        f"<td class=text>{esc(prov.get('data_manifest', '?'))}</td>"
                        f"<td class=text>{esc(prov.get('created', '?'))}</td></tr>")
        conf = {"config": s.runs[0].raw.get("config"), "router_config": s.runs[0].raw.get("router_config"),
                "routing": s.runs[0].raw.get("routing")}
        protocol = "*" if key[2] == "none" else key[2]  # reference routers belong to every protocol
        parts.append(f'<details data-pool="{esc(key[1])}" data-protocol="{esc(protocol)}"><summary>'
                     f"{esc(analysis.label(key))}, pool {esc(key[1])}</summary><table><thead><tr>"
                     "<th class=text>run file</th><th>seed</th><th class=text>commit</th>"
                     "<th class=text>data manifest</th><th class=text>created</th></tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table><pre>" + esc(json.dumps(conf, indent=1, sort_keys=True))
                     + "</pre></details>")
    return "\n".join(parts)


def page(stats: dict[GroupKey, GroupStats], settings: Settings) -> str:
    created = max((r.raw.get("provenance", {}).get("created", "") for s in stats.values() for r in s.runs),
                  default="")
    routers = ", ".join(sorted({analysis.label(k) for k in stats}))
    sections = [
        "<h1>LLM router leaderboard</h1>",
        f'<p class="muted">Lookahead-routing reproduction harness. Built by <code>make report</code> from '
        f"{sum(len(s.runs) for s in stats.values())} run files (latest {esc(created)}); routers: {esc(routers)}. "
        "mu_n: 0 = random, 100 = oracle of the same pool and items. Intervals: "
        f"{settings.resamples} paired bootstrap resamples over items (seed {settings.seed}), 95% percentile; "
        "random and oracle recomputed in every resample; several seeds: mean ± std, interval over items "
        "and seeds. ▲ leader of its pool and protocol (oracle excluded), ≈ statistically tied with it (p ≥ 0.05). "
        "Reference routers (random, oracle, fixed; protocol none) appear beside every protocol. "
        "Click a column header to sort.</p>",
        filters(stats), f'<div class="scroll">{leaderboard_table(stats)}</div>',
        "<h2>Per-benchmark scores</h2>", figures_bench(stats),
        "<h2>Quality against cost</h2>", figures_cost(stats),
        "<h2>Scalability</h2>", scalability_html(stats),
        "<h2>Provenance</h2>", provenance_html(stats),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Router leaderboard</title><style>{CSS}</style></head><body>\n"
            + "\n".join(sections) + f"\n<script>{JS}</script>\n</body></html>\n")


def write_site(stats: dict[GroupKey, GroupStats], settings: Settings) -> Path:
    path = site_path()
    atomic_write_text(path, page(stats, settings))
    return path
