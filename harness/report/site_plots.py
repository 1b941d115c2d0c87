"""The plots of the leaderboard page (:mod:`harness.report.site`): matplotlib figures inlined as SVG.

Made to be read, not decoded: no legend of look-alike colours for many routers. Routers are named
on the axis (sorted dot plots with 95% intervals) or by callout labels stacked in a column beside the
axes, in the order of their points, at least a line apart, so they never overlap. Every label is an
SVG group whose id contains ``-lbl-`` (the page test checks they are distinct and do not overlap), and
every figure lists its labels in ``data-labels``. Deterministic output: fixed hash salt, no date.

Imports: core and the report modules below it.
"""
from __future__ import annotations

import html
import io
import json
import math
from dataclasses import dataclass

import numpy as np

LABEL_PT = 7.5  # callout font size
REFERENCE_COLOR, LEARNED_COLOR, ORACLE_COLOR = "#888888", "#1f5fa8", "#2b8a3e"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "routing-harness", "svg.fonttype": "none", "font.size": 8.5,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


@dataclass
class Plot:
    """An inline SVG and the labels drawn on it."""
    svg: str
    labels: list[str]

    def figure(self, caption: str, attrs: str = "") -> str:
        labels = html.escape(json.dumps(self.labels, ensure_ascii=False), quote=True)
        return (f'<figure class="plot"{attrs} data-labels="{labels}">{self.svg}'
                f"<figcaption>{caption}</figcaption></figure>")


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _plt().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inline in HTML


def _err(ci: tuple[float, float] | None, value: float) -> tuple[float, float]:
    return (0.0, 0.0) if ci is None or value != value else (max(value - ci[0], 0.0), max(ci[1] - value, 0.0))


@dataclass
class Dot:
    label: str
    value: float
    ci: tuple[float, float] | None
    reference: bool = False


def _tag_ticks(ax, fig_id: str) -> None:
    for i, tick in enumerate(ax.get_yticklabels()):
        tick.set_gid(f"{fig_id}-lbl-{i}")


def dot_plot(dots: list[Dot], fig_id: str, xlabel: str) -> Plot:
    """Routers sorted by value, one row each, named on the axis; a dot and its 95% interval."""
    plt = _plt()
    dots = sorted(dots, key=lambda d: (-(d.value if d.value == d.value else -1e9), d.label))
    fig, ax = plt.subplots(figsize=(7.2, 0.6 + 0.24 * len(dots)))
    y = np.arange(len(dots))[::-1]
    for yi, d in zip(y, dots):
        color = REFERENCE_COLOR if d.reference else LEARNED_COLOR
        ax.errorbar([d.value], [yi], xerr=np.array([_err(d.ci, d.value)]).T, fmt="o", ms=4, capsize=2,
                    color=color, ecolor=color, lw=1)
    ax.set_yticks(y, [d.label for d in dots])
    ax.axvline(0, color="#bbb", lw=0.8)
    ax.axvline(100, color="#bbb", lw=0.8, ls="--")
    ax.set_ylim(-0.7, len(dots) - 0.3)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    _tag_ticks(ax, fig_id)
    return Plot(_svg(fig), [d.label for d in dots])


def bench_dots(rows: list[tuple[str, bool, dict[str, tuple[float, tuple[float, float] | None]]]],
               benches: list[tuple[str, str]], fig_id: str) -> Plot:
    """Small multiples: one panel per benchmark (mu_n and its interval), routers on the shared axis,
    in the order given (best average first)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(benches), figsize=(1.6 * len(benches) + 1.6, 0.6 + 0.22 * len(rows)),
                             sharey=True)
    axes = np.atleast_1d(axes)
    y = np.arange(len(rows))[::-1]
    for ax, (bench, title) in zip(axes, benches):
        for yi, (_, reference, values) in zip(y, rows):
            value, ci = values.get(bench, (math.nan, None))
            if value == value:
                color = REFERENCE_COLOR if reference else LEARNED_COLOR
                ax.errorbar([value], [yi], xerr=np.array([_err(ci, value)]).T, fmt="o", ms=3, capsize=1.5,
                            color=color, ecolor=color, lw=0.8)
        ax.axvline(0, color="#bbb", lw=0.6)
        ax.axvline(100, color="#bbb", lw=0.6, ls="--")
        ax.set_title(title, fontsize=8.5)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
    axes[0].set_yticks(y, [r[0] for r in rows])
    axes[0].set_ylim(-0.7, len(rows) - 0.3)
    _tag_ticks(axes[0], fig_id)
    fig.supxlabel("mu_n (0 = random, 100 = oracle)", fontsize=8.5)
    return Plot(_svg(fig), [r[0] for r in rows])


# --------------------------------------------------------------------------------------------
# Callout labels: a column beside the axes, in the points' order, never overlapping
# --------------------------------------------------------------------------------------------

def _spread(targets: list[float], gap: float) -> list[float]:
    """Positions in [0, 1] as close to ``targets`` (sorted ascending) as a minimum ``gap`` allows."""
    out: list[float] = []
    for t in targets:
        out.append(max(t, out[-1] + gap) if out else max(t, 0.0))
    top = 1.0
    for i in range(len(out) - 1, -1, -1):  # pushed past the top: slide back down
        out[i] = min(out[i], top)
        top = out[i] - gap
    return out


def callouts(ax, points: list[tuple[float, float, str]], fig_id: str, start: int = 0) -> list[str]:
    """Label (x, y) points with texts in a column right of the axes, linked by thin lines."""
    fig = ax.figure
    fig.canvas.draw()  # limits and the axes' size are final
    height_pt = ax.get_window_extent().height * 72.0 / fig.dpi
    gap = LABEL_PT * 1.35 / max(height_pt, 1.0)
    to_axes = ax.transAxes.inverted()
    order = sorted(range(len(points)), key=lambda i: to_axes.transform(ax.transData.transform(points[i][:2]))[1])
    targets = [float(to_axes.transform(ax.transData.transform(points[i][:2]))[1]) for i in order]
    labels = []
    for n, (i, y) in enumerate(zip(order, _spread(targets, gap))):
        x0, y0, text = points[i]
        ann = ax.annotate(text, xy=(x0, y0), xycoords="data", xytext=(1.03, y), textcoords="axes fraction",
                          fontsize=LABEL_PT, va="center", ha="left", annotation_clip=False,
                          arrowprops=dict(arrowstyle="-", lw=0.4, color="#9a9a9a", shrinkA=0, shrinkB=2))
        ann.set_gid(f"{fig_id}-lbl-{start + n}")
        labels.append(text)
    return labels


def _callout_height(n: int, base: float) -> float:
    """Figure height (inches) leaving every callout a line of its own."""
    return max(base, 1.0 + n * LABEL_PT * 1.45 / 72.0)


def cost_scatter(points: list[tuple[str, float, float, tuple[float, float] | None, bool]], xlabel: str,
                 fig_id: str, ensemble: tuple[float, str] | None = None) -> Plot:
    """Average mu_n (95% CI) against a cost, every router labelled by a callout."""
    plt = _plt()
    shown = [p for p in points if p[1] == p[1] and p[2] == p[2]]
    fig, ax = plt.subplots(figsize=(6.4, _callout_height(len(shown) + (1 if ensemble else 0), 3.8)))
    for label, x, y, ci, reference in shown:
        color = REFERENCE_COLOR if reference else LEARNED_COLOR
        ax.errorbar([x], [y], yerr=np.array([_err(ci, y)]).T, fmt="o", ms=4, capsize=2, color=color, lw=1)
    marks = [(x, y, label) for label, x, y, _, _ in shown]
    if ensemble:
        ax.plot([ensemble[0]], [100], marker="v", color="black")
        marks.append((ensemble[0], 100.0, ensemble[1]))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("average mu_n (95% CI)")
    ax.grid(alpha=0.3)
    return Plot(_svg_after(fig, ax, marks, fig_id), [m[2] for m in marks])


def _svg_after(fig, ax, marks: list[tuple[float, float, str]], fig_id: str) -> str:
    callouts(ax, marks, fig_id)
    return _svg(fig)


def lines_plot(panels: list[tuple[str, dict[str, list[tuple[float, float, tuple[float, float] | None]]]]],
               xlabel: str, ylabel: str, fig_id: str) -> Plot:
    """One panel per title; one line per series (distinct colours, named in one legend)."""
    plt = _plt()
    names = sorted({name for _, series in panels for name in series})
    colors = {name: plt.get_cmap("tab10" if len(names) <= 10 else "tab20")(i) for i, name in enumerate(names)}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.0), gridspec_kw={"wspace": 0.4})
    for ax, (title, series) in zip(np.atleast_1d(axes), panels):
        for name, pts in series.items():
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            errs = np.array([_err(p[2], p[1]) for p in pts]).T
            ax.errorbar(xs, ys, yerr=errs, marker="o", ms=3.5, capsize=2, color=colors[name], label=name, lw=1.2)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colors[n], marker="o", lw=1.2) for n in names]
    legend = fig.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(4, len(names)),
                        fontsize=LABEL_PT, frameon=False)
    for i, text in enumerate(legend.get_texts()):
        text.set_gid(f"{fig_id}-lbl-{i}")
    return Plot(_svg(fig), names)


def curve_plot(series: dict[str, list[tuple[float, float]]], singles: list[tuple[str, float, float]],
               oracle: list[tuple[float, float]] | None, fig_id: str) -> Plot:
    """Cost–quality curves (USD per item against average mu_n): each router's willingness-to-pay
    sweep, the oracle's cheapest-correct curve, and each candidate alone; all named by callouts."""
    plt = _plt()
    names = sorted(series)
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    n_labels = len(names) + len(singles) + (1 if oracle else 0)
    fig, ax = plt.subplots(figsize=(6.4, _callout_height(n_labels, 3.8)))
    marks: list[tuple[float, float, str]] = []
    for i, name in enumerate(names):
        pts = sorted(series[name])
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=2.5, lw=1.2, color=cmap(i))
        marks.append((pts[-1][0], pts[-1][1], name))
    if oracle:
        pts = sorted(oracle)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], ls="--", lw=1, color=ORACLE_COLOR)
        marks.append((pts[-1][0], pts[-1][1], "oracle (cheapest correct)"))
    for model, x, y in singles:
        ax.plot([x], [y], marker="s", ms=4, color=REFERENCE_COLOR)
        marks.append((x, y, f"{model} alone"))
    ax.set_xscale("log" if all(m[0] > 0 for m in marks) and len({round(m[0], 12) for m in marks}) > 1 else "linear")
    ax.set_xlabel("USD per item (mean over benchmarks)")
    ax.set_ylabel("average mu_n")
    ax.grid(alpha=0.3)
    return Plot(_svg_after(fig, ax, marks, fig_id), [m[2] for m in marks])
