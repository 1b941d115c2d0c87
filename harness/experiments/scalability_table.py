"""The scalability table (``results/scalability.md``): per pool size T and benchmark, random,
oracle and each learned router's native score under ``cv``, with each router's GFLOPs per query and
batch-1 latency. Pure rendering of the states :mod:`harness.experiments.scalability` collects.
"""

import math
from dataclasses import replace

from benchmarks import get_benchmark
from harness.core import runner
from routers.profiles import SPEED_ONLY

from harness.experiments.scalability_plan import NOT_IN_CACHE, NOT_MEASURED, NOT_RUN, Pool, Settings, make_command, pool_name


# --------------------------------------------------------------------------------------------------
# The table


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _gflops(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _cost_cells(found: dict | None, benchmark: str) -> list[str]:
    if found is None:
        return [NOT_MEASURED] * 4
    per = found.get("per_benchmark", {}).get(benchmark)
    src = per if per else found  # the leaderboard holds pooled figures only
    return [_gflops(src.get("gflops")), _gflops(src.get("gflops_dense")),
            _num(found.get("latency_ms"), 1), _num(found.get("latency_p95_ms"), 1)]


def _reference_rows(pool: Pool, benchmark: str) -> list[list[str]]:
    refs = runner.references(benchmark, tuple(pool.models))
    zero = ["0", "0", "–", "–"]  # random and oracle run no model (the harness counts them zero)
    return [["random", _num(refs["random"]), "0.0", *zero], ["oracle", _num(refs["oracle"]), "100.0", *zero]]


def _router_row(router: str, state: dict, benchmark: str) -> list[str]:
    run, found = state.get("run"), state.get("cost")
    if run is None:
        return [router, NOT_RUN, NOT_RUN, "–", "–", "–", "–"]
    bench = run["benchmarks"].get(benchmark)
    if bench is None:  # a run over other benchmarks of this pool (training was off)
        return [router, NOT_RUN, NOT_RUN, *_cost_cells(found, benchmark)]
    return [router, _num(bench["score"]), _num(bench["normalized"], 1), *_cost_cells(found, benchmark)]


def pool_rows(pool: Pool, benchmark: str, states: dict[str, dict], routers: list[str]) -> list[list[str]]:
    """Rows (router, mu_o, mu_n, GFLOPs all, GFLOPs dense, p50 ms, p95 ms) of one pool on one benchmark."""
    if benchmark in pool.missing:
        return [[name] + [NOT_IN_CACHE] * 6 for name in ["random", "oracle", *routers]]
    rows = _reference_rows(pool, benchmark)
    return rows + [_router_row(r, states.get((pool.label, r), {}), benchmark) for r in routers]


HEAD = ["router", "mu_o", "mu_n", "GFLOPs/query (all)", "GFLOPs/query (dense)", "p50 ms", "p95 ms"]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def _cv_items(pool: Pool, states: dict, routers: list[str]) -> str:
    """What the pool's learned routers were cross-validated over (from their run files)."""
    seen = set()
    for r in routers:
        run = states.get((pool.label, r), {}).get("run")
        if run:
            seen.add(", ".join(f"{b} ({v['n_items']})" for b, v in run["benchmarks"].items()))
    if not seen:
        return "no run yet" if pool.available else "—"
    return "; ".join(sorted(seen))


def _missing_text(pool: Pool) -> str:
    """'b1, b2: lack m1, m2; b3: lacks m3' -- benchmarks lacking the same models grouped."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for bench, models in pool.missing.items():
        groups.setdefault(tuple(models), []).append(bench)
    return "; ".join(f"{', '.join(bs)}: {'lack' if len(bs) > 1 else 'lacks'} {', '.join(ms)}"
                     for ms, bs in groups.items())


def _pool_section(pools: list[Pool], states: dict, routers: list[str]) -> list[str]:
    rows = []
    for p in pools:
        missing = _missing_text(p) or "—"
        rows.append([str(p.size), pool_name(p), ", ".join(p.models), ", ".join(p.available) or "none",
                     missing, _cv_items(p, states, routers)])
    return _table(["T", "pool", "models (in order)", "benchmarks in cache", "not in cache",
                   "learned routers' cv items"], rows)


# Recorded settings that name a run rather than set it up (a run file of another pool differs in these
# by design, so they are not a setup difference).
_NOT_SETUP = frozenset({"seed", "profile", "response_loss_threshold", *SPEED_ONLY})  # the last: a report setting
UNRECORDED = "unrecorded"  # the run predates the option, so its code's default then applied


def _setup_of(state: dict) -> dict:
    run = state.get("run") or {}
    return {k: v for k, v in run.get("router_config", {}).items() if k not in _NOT_SETUP}


def setup_differences(pools: list[Pool], states: dict, routers: list[str]) -> list[str]:
    """One line per router whose runs across the pools were trained under different settings (read from
    their run files): a change of T is then confounded with the change of setup."""
    lines = []
    for router in routers:
        by_pool = {p.label: _setup_of(states.get((p.label, router), {})) for p in pools}
        by_pool = {label: cfg for label, cfg in by_pool.items() if cfg}
        keys = sorted({k for cfg in by_pool.values() for k in cfg})
        differ = [k for k in keys if len({repr(cfg.get(k, UNRECORDED)) for cfg in by_pool.values()}) > 1]
        if not differ:
            continue
        groups: dict[str, list[str]] = {}
        for label, cfg in by_pool.items():
            settings = ", ".join(f"{k}={cfg.get(k, UNRECORDED)}" for k in differ)
            groups.setdefault(settings, []).append(label)
        lines.append(f"- **{router}**: " + "; ".join(f"{', '.join(labels)}: {settings}"
                                                      for settings, labels in groups.items()) + ".")
    return lines


def _setup_section(pools: list[Pool], states: dict, routers: list[str]) -> list[str]:
    lines = setup_differences(pools, states, routers)
    if not lines:
        return []
    return ["## Setups that differ between pools", "",
            "These routers' runs were not trained under one setup (settings read from each run file's "
            f"`router_config`; \"{UNRECORDED}\": the run predates the option, so the default of its time "
            "applied). Their change across T mixes the pool size with the setup: delete the older run files "
            f"and run `make scalability` to re-train them under today's defaults.", ""] + lines + [""]


def _devices(states: dict) -> str:
    """The devices of the cost figures, and the 1-minute load average while they were timed (this
    machine is shared, so latency moves with the load)."""
    costs = [st["cost"] for st in states.values() if st.get("cost")]
    if not costs:
        return "none measured yet"
    devices = "; ".join(sorted({str(c.get("device", "?")) for c in costs}))
    loads = [float(c["load_1min"]) for c in costs if isinstance(c.get("load_1min"), (int, float))]
    return devices + (f" (1-min load average {min(loads):.1f}–{max(loads):.1f} while timed)" if loads else "")


def _header(s: Settings, states: dict) -> list[str]:
    return [
        "# Scalability: pool size T",
        "",
        f"Regenerate with `{make_command(s)}` (`routing-harness scalability`); this file is written by it "
        "and re-uses the run files in results/runs. Spec: paper notes, section 6.",
        "",
        f"- **Learned routers** ({', '.join(s.routers)}): profile **{s.profile}**, protocol **cv** "
        f"({s.folds} folds, seed {s.seed}) over the benchmarks of the pool that the cache has (listed "
        "per pool below), not the paper's training sets: the released cache has training responses only "
        "for paper5.",
        "- **mu_o**: each benchmark's native metric (AlpacaEval LC win rate, Arena-Hard BT win rate, "
        "MT-Bench mean score, accuracy, pass@1); **mu_n** = (mu_o − random) / (oracle − random) × 100, "
        "for that pool. random = mean of the candidates' own metrics; oracle = best candidate per item.",
        "- **GFLOPs per query**: mean over sampled test queries of that benchmark, each routed alone "
        "(harness.cost.runs). *all* counts every matrix product including the attention score/value "
        "products; *dense* leaves those out (linear layers only, the convention the paper's figures "
        "appear to use). Random and oracle run no model and count zero.",
        f"- **Latency**: p50 / p95 ms per single query (batch 1) after warm-up, over the run's sampled "
        f"queries of all its benchmarks, on: {_devices(states)}. Not comparable with the paper's RTX 3090 "
        "figures.",
        f"- \"{NOT_IN_CACHE}\": the released cache lacks a model of the pool on that benchmark (listed "
        f"below); no substitute is scored. \"{NOT_RUN}\": no run file for that router, pool and profile "
        f"in results/runs yet. \"{NOT_MEASURED}\": no cost figures for that run yet.",
        "- In the released cache the 8-candidate pool exists only for AlpacaEval (MATH and HumanEval have "
        "at most 6 models), so **T=8 is studied on AlpacaEval only, under cv on its 805 items**; the "
        "routers of T=3 and T=5 are cross-validated over every benchmark listed for their pool.",
        "",
    ]


def _status(s: Settings, states: dict) -> list[str]:
    """One plain line on how much of the table is filled."""
    runs = sum(1 for st in states.values() if st.get("run"))
    if runs == len(states):
        return []
    return [f"**Status:** {runs} of {len(states)} learned-router runs (profile {s.profile}) exist; the "
            f"cells without a run say \"{NOT_RUN}\". `{make_command(s)}` trains them (hours on "
            "the cpu profile here); random and oracle need no training and are complete.", ""]


def _states_of(pools: list[Pool], states: dict) -> dict:
    labels = {p.label for p in pools}
    return {key: st for key, st in states.items() if key[0] in labels}


def render(s: Settings, pools: list[Pool], states: dict) -> str:
    """results/scalability.md: the pools of SIZES (the optional alternative has its own file)."""
    main, states = replace(s, alternative=None), _states_of(pools, states)
    lines = _header(main, states) + _status(main, states) + ["## Pools", ""]
    lines += _pool_section(pools, states, s.routers) + [""]
    lines += _setup_section(pools, states, s.routers)
    for bench in s.benchmarks:
        adapter = get_benchmark(bench)
        rows = [[str(p.size), pool_name(p), *r] for p in pools for r in pool_rows(p, bench, states, s.routers)]
        lines += [f"## {adapter.title} ({adapter.metric})", ""] + _table(["T", "pool", *HEAD], rows) + [""]
    return "\n".join(lines)


def render_alternative(s: Settings, alts: list[Pool], states: dict) -> str:
    """results/scalability_<alternative>.md: the documented second pool, same conventions."""
    states = _states_of(alts, states)
    lines = [f"# Scalability: alternative pool `{s.alternative}`", "",
             f"Regenerate with `{make_command(s)}` (it also rewrites scalability.md); this file is written by "
             "it and re-uses the run files in results/runs. Conventions (mu_o, mu_n, both GFLOPs conventions, "
             "\"not in cache\", \"not run yet\") as in [scalability.md](scalability.md).", "",
             "- A second, documented pool: paper5 + gemma-2-9b-it (T=6). An 8-candidate pool with "
             "gemma-2-9b-it exists in the cache only for AlpacaEval and MT-Bench, and MATH/HumanEval hold "
             "at most 6 models, so this is the largest pool the cache has on the paper's three benchmarks "
             "(every benchmark but Arena-Hard).",
             f"- **Learned routers** ({', '.join(s.routers)}): profile **{s.profile}**, protocol **cv** "
             f"({s.folds} folds, seed {s.seed}) over the benchmarks the cache has for the pool.",
             f"- **Latency** p50 / p95 ms, batch 1, on: {_devices(states)}.", ""]
    lines += _status(s, states) + _pool_section(alts, states, s.routers) + [""]
    rows = [[get_benchmark(b).title, pool_name(p), *r] for p in alts for b in s.benchmarks
            for r in pool_rows(p, b, states, s.routers)]
    return "\n".join(lines + _table(["benchmark", "pool", *HEAD], rows) + [""])
