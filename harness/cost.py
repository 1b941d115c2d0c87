"""Router cost: FLOPs per query, latency, throughput, router parameters, activated candidate parameters.

FLOP conventions (both count matrix products only: elementwise ops, softmax and norms are not counted,
as in torch's ``FlopCounterMode``; a multiply-add is 2 FLOPs):

- ``gflops``: everything, *including* the attention score (QK^T) and value (AV) products. On CPU the
  fused SDPA kernels are invisible to the flop counter, so during counting every call of
  ``torch.nn.functional.scaled_dot_product_attention`` (what HF models use with
  ``attn_implementation="sdpa"``, their default) is replaced by an explicit matmul/softmax version,
  and the counter measures its products. Masked positions are still computed (and counted), as the
  dense kernels do.
- ``gflops_dense``: the same minus those attention products: the weights' linear/matmul layers only,
  the convention the paper's figures appear to use.

Attention written by hand with ``torch.matmul`` (e.g. an HF model forced to ``attn_implementation=
"eager"``) is counted in ``gflops`` but cannot be told apart from dense layers: routers should use SDPA.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from harness.errors import HarnessError
from harness.pools import MODEL_PARAMS_B
from routers.base import Router, RouterContext, RoutingData

DEFAULT_SAMPLE = 16  # queries per benchmark under the flop counter and the latency timer
DEFAULT_BATCH = 32  # throughput batch size
DEFAULT_WARMUP = 3


# --------------------------------------------------------------------------------------------------
# FLOP counting


@dataclass
class FlopCount:
    total: float  # FLOPs, every matrix product
    attention: float  # of which attention score/value products

    @property
    def dense(self) -> float:
        return self.total - self.attention

    def __add__(self, other: "FlopCount") -> "FlopCount":
        return FlopCount(self.total + other.total, self.attention + other.attention)


def explicit_sdpa(query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                  scale: float | None = None, enable_gqa: bool = False):
    """``F.scaled_dot_product_attention`` as plain matmul/softmax, so the flop counter sees it.
    Inference only: dropout is ignored."""
    import torch

    if enable_gqa and key.size(-3) != query.size(-3):
        repeat = query.size(-3) // key.size(-3)
        key, value = key.repeat_interleave(repeat, dim=-3), value.repeat_interleave(repeat, dim=-3)
    scale = query.size(-1) ** -0.5 if scale is None else scale
    scores = torch.matmul(query, key.transpose(-2, -1)) * scale
    floor = torch.finfo(scores.dtype).min  # not -inf: a fully masked row must not turn into NaN
    if is_causal:
        causal = torch.ones(query.size(-2), key.size(-2), dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~causal, floor)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, floor) if attn_mask.dtype == torch.bool else scores + attn_mask
    return torch.matmul(torch.softmax(scores, dim=-1), value)


def _fused_sdpa_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query, key, value)


def _attention_ops() -> dict:
    """The fused SDPA aten ops: counted (CPU's is not by default) and booked as attention, for code
    that calls them without going through the patched Python function."""
    import torch

    aten = torch.ops.aten
    names = ["_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
             "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention"]
    return {getattr(aten, n): _fused_sdpa_flops for n in names if hasattr(aten, n)}


@contextlib.contextmanager
def _explicit_attention(mode, tally: list[float]) -> Iterator[None]:
    """Route F.scaled_dot_product_attention through :func:`explicit_sdpa`; book its FLOPs in ``tally``."""
    import torch.nn.functional as F

    original = F.scaled_dot_product_attention

    def counted(*args, **kwargs):
        before = mode.get_total_flops()
        out = explicit_sdpa(*args, **kwargs)
        tally[0] += mode.get_total_flops() - before
        return out

    F.scaled_dot_product_attention = counted
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, FlopCount]:
    """Run ``fn(*args, **kwargs)`` without gradients under the flop counter: (its result, the count)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    fused = _attention_ops()
    tally = [0.0]
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=fused) as mode, \
            _explicit_attention(mode, tally):
        result = fn(*args, **kwargs)
    by_op = mode.flop_counts.get("Global", {})
    fused_total = sum(v for op, v in by_op.items() if op in fused)  # keys are the same op packets
    return result, FlopCount(total=float(mode.get_total_flops()), attention=tally[0] + float(fused_total))


# --------------------------------------------------------------------------------------------------
# Measuring a router on real queries


def sample_indices(benchmarks: list[str], per_benchmark: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded sample of item positions per benchmark (all of a benchmark's items when it has fewer)."""
    names = list(dict.fromkeys(benchmarks))
    labels = np.asarray(benchmarks)
    out = {}
    for name in names:
        where = np.flatnonzero(labels == name)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])  # stable across runs and pools
        take = min(per_benchmark, len(where))
        out[name] = np.sort(rng.choice(where, size=take, replace=False))
    return out


def device_label() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu, {torch.get_num_threads()} torch threads"


def load_average() -> float | None:
    """The machine's 1-minute load: CPU timings on a shared machine mean little when it exceeds the cores."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn: Callable[[], Any]) -> float:
    """Seconds of one call, synchronising CUDA so queued kernels are included."""
    _sync()
    start = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - start


def mean_length_query(items: RoutingData) -> int:
    """The real query whose length in characters is closest to the mean over all items: the router's
    cost "at the mean query length" without knowing its tokenizer."""
    lengths = np.array([len(p) for p in items.prompts], dtype=np.float64)
    return int(np.argmin(np.abs(lengths - lengths.mean())))


def _flops_per_query(router: Router, shown: RoutingData, picks: dict[str, np.ndarray],
                     sizes: dict[str, int]) -> dict[str, Any]:
    extra = float(router.extra_flops_per_query())
    per_bench: dict[str, dict[str, float]] = {}
    for name, index in picks.items():
        counts = [count_flops(router.predict, shown.subset([i]))[1] for i in index]
        per_bench[name] = {"gflops": (np.mean([c.total for c in counts]) + extra) / 1e9,
                           "gflops_dense": (np.mean([c.dense for c in counts]) + extra) / 1e9,
                           "n_sampled": len(index)}
    weight = {name: sizes[name] / sum(sizes.values()) for name in picks}  # estimate of the pooled mean
    pooled = {key: float(sum(weight[n] * per_bench[n][key] for n in picks)) for key in ("gflops", "gflops_dense")}
    return {"per_benchmark": per_bench, **pooled}


def _latency(router: Router, shown: RoutingData, order: list[int], warmup: int) -> dict[str, Any]:
    for i in order[:warmup]:
        router.predict(shown.subset([i]))
    seconds = {i: _timed(lambda i=i: router.predict(shown.subset([i]))) for i in order}
    ms = np.array(list(seconds.values())) * 1e3
    return {"latency_ms": float(np.percentile(ms, 50)), "latency_p95_ms": float(np.percentile(ms, 95)),
            "n_timed": len(ms), "seconds": seconds}


def _throughput(router: Router, shown: RoutingData, order: list[int], batch_size: int) -> dict[str, Any]:
    batch = shown.subset([order[k % len(order)] for k in range(batch_size)])
    router.predict(batch)  # warm-up at this shape
    seconds = min(_timed(lambda: router.predict(batch)) for _ in range(2))
    return {"batch_size": batch_size, "queries_per_s": batch_size / seconds if seconds > 0 else math.inf}


def measure_router(router: Router, items: RoutingData, *, sample_per_benchmark: int = DEFAULT_SAMPLE,
                   seed: int = 0, warmup: int = DEFAULT_WARMUP, batch_size: int = DEFAULT_BATCH,
                   run: dict | None = None) -> dict[str, Any]:
    """Cost of ``router`` on the real test ``items`` (see the module docstring for the FLOP conventions).

    FLOPs: each sampled query routed alone (batch 1, no padding) under the counter; per-benchmark means,
    and their item-weighted mean (an estimate of the mean over all items), plus the query closest to the
    mean length. ``router.extra_flops_per_query()`` is added to both conventions. Latency: batch-1
    ``predict`` of every sampled query after ``warmup`` calls. ``run``: a run file, for the activated
    candidate parameters of its per-item choices.
    """
    shown = items if router.uses_test_labels else items.queries()
    picks = sample_indices(items.benchmarks, sample_per_benchmark, seed)
    sizes = {name: items.benchmarks.count(name) for name in picks}
    order = [int(i) for index in picks.values() for i in index]
    flops = _flops_per_query(router, shown, picks, sizes)
    at_mean = mean_length_query(items)
    count = count_flops(router.predict, shown.subset([at_mean]))[1]
    extra = float(router.extra_flops_per_query())
    latency = {**_latency(router, shown, order, warmup), "load_1min": load_average()}
    latency.pop("seconds")
    import torch

    result: dict[str, Any] = {
        "device": device_label(), "torch_threads": torch.get_num_threads(), "seed": seed,
        "sample_per_benchmark": sample_per_benchmark, **flops,
        "at_mean_length": {"uid": items.uids[at_mean], "chars": len(items.prompts[at_mean]),
                           "mean_chars": float(np.mean([len(p) for p in items.prompts])),
                           "gflops": (count.total + extra) / 1e9, "gflops_dense": (count.dense + extra) / 1e9},
        "extra_flops_per_query": extra, **latency,
        "throughput": _throughput(router, shown, order, batch_size),
        "router_params": int(router.parameter_count()),
    }
    if run is not None:
        result["activated_params_b"] = activated_params(run, expected=router.expected_over_candidates)
    return result


# --------------------------------------------------------------------------------------------------
# Activated candidate parameters


def model_size_b(model: str) -> float:
    if model not in MODEL_PARAMS_B:
        raise HarnessError(f"model '{model}': parameter count unknown (add it to MODEL_PARAMS_B in harness/pools.py)")
    return MODEL_PARAMS_B[model]


def activated_params(run: dict, *, expected: bool = False) -> dict[str, Any]:
    """Billions of parameters of the chosen candidate, averaged over items: per benchmark, the mean of
    the per-benchmark means, and pooled over all items. ``expected`` (the random router): the mean of
    the pool's sizes, the expectation of a uniform choice, not one seeded draw."""
    sizes = np.array([model_size_b(m) for m in run["models"]])
    per_bench, totals, count = {}, 0.0, 0
    for name, bench in run["benchmarks"].items():
        choice = np.asarray(bench["choice"], dtype=np.int64)
        chosen = np.full(len(bench["ids"]), sizes.mean()) if expected else sizes[choice]
        per_bench[name] = float(chosen.mean()) if len(chosen) else math.nan
        totals, count = totals + float(chosen.sum()), count + len(chosen)
    return {"per_benchmark": per_bench, "mean_of_means": float(np.mean(list(per_bench.values()))),
            "pooled": totals / count if count else math.nan, "rule": "expected (uniform)" if expected else "choices"}


# --------------------------------------------------------------------------------------------------
# Filling the leaderboard (``routing-harness cost``)


def saved_fold_router(run: dict) -> Path | None:
    """The first fitted fold router the run's cv saved (``harness.protocols.fitted_router_path``)."""
    from harness import protocols

    for summary in (run.get("routing") or {}).get("training") or []:
        key = summary.get("cache_key") if isinstance(summary, dict) else None
        if key and protocols.fitted_router_path(key).exists():
            return protocols.fitted_router_path(key)
    return None


def obtain_router(name: str, run: dict) -> tuple[Router, str]:
    """The router of a run, ready to predict: (router, "reference" | "fitted" | "untrained").

    A learned router is re-used, in this order, when it implements ``load_fitted(run) -> bool`` and
    that finds its fitted model, or implements ``load(path)`` and the run's cv saved a fold router
    (any fold: they share the architecture). Otherwise it must implement ``init_untrained()``: FLOPs
    and latency do not depend on the weights (a neighbour search's do on its index size, which
    ``init_untrained`` must then reproduce).
    """
    from routers import build_router

    config = run.get("config", {})
    profile = run.get("profile") if run.get("profile") not in (None, "-") else config.get("profile", "cpu")
    # the run's options, but not the thread count it trained with (parallel lanes train on fewer):
    # every router is timed on its profile's threads
    options = {k: v for k, v in (config.get("options") or {}).items() if k != "num_threads"}
    ctx = RouterContext(models=list(run["models"]), seed=int(run.get("seed") or 0), profile=profile, options=options)
    router = build_router(name, ctx)
    if not router.learns:
        return router, "reference"
    load = getattr(router, "load_fitted", None)
    if callable(load) and load(run):
        return router, "fitted"
    saved = saved_fold_router(run) if callable(getattr(router, "load", None)) else None
    if saved is not None:
        router.load(saved)
        return router, "fitted"
    try:
        router.init_untrained()
    except NotImplementedError:
        raise HarnessError(f"router '{name}': cannot be measured (no fitted model found by load_fitted(run), "
                           f"and no init_untrained())") from None
    return router, "untrained"


def _groups(rows: list[dict], routers: list[str] | None) -> dict[tuple[str, str, str, str], dict]:
    """Leaderboard rows grouped per run: (router, pool, protocol, profile) -> a row (for its run file)."""
    groups: dict[tuple[str, str, str, str], dict] = {}
    for row in rows:
        if routers and row["router"] not in routers:
            continue
        groups.setdefault((row["router"], row["pool"], row["protocol"], row["profile"]), row)
    for name in routers or []:
        if not any(key[0] == name for key in groups):
            raise HarnessError(f"router '{name}': no leaderboard rows to fill (run 'make eval ROUTER={name}' first)")
    return groups


def cost_path(run_file: str) -> Path:
    from harness import config

    return config.results_dir() / "cost" / Path(run_file).name


def stored_cost(run_file: str) -> Path | None:
    """The run's cost file, else another seed's of its group (they share the architecture)."""
    own = cost_path(run_file)
    if own.exists():
        return own
    stem, sep, _ = own.name.rpartition("__seed")
    return next(iter(sorted(own.parent.glob(f"{stem}__seed*.json"))), None) if sep else None


def measure_run(row: dict, **settings: Any) -> dict[str, Any]:
    """Measure the router of one leaderboard run on that run's pool and benchmarks."""
    from harness import config, runner, store
    from harness.io import read_json

    run = read_json(config.results_dir() / row["run_file"])
    router, weights = obtain_router(row["router"], run)
    datas = {b: store.load(b, run["models"]) for b in run["benchmarks"]}
    items = runner.routing_data(datas, run["models"])
    result = measure_router(router, items, run=run, **settings)
    return {"router": row["router"], "pool": row["pool"], "protocol": row["protocol"],
            "profile": row["profile"], "run_file": row["run_file"], "weights": weights, **result}


MEASURED_COLUMNS = ("gflops", "gflops_dense", "latency_ms", "latency_p95_ms", "router_params")


def columns_for_new_run(run: dict, run_file: str, earlier_config: dict | None, *,
                        expected: bool = False) -> dict[str, dict[str, Any]]:
    """Per benchmark, the cost columns a fresh run's leaderboard rows set themselves.

    Activated parameters follow the new run's choices. FLOPs, latency and router parameters depend
    on the router's settings, not on its trained weights: the figures already on the leaderboard
    (measured for the run its rows named, whose router config is ``earlier_config``) are kept when
    the new run has the same config, seed aside; otherwise they are cleared, and the run's cost file removed,
    until ``routing-harness cost`` measures again. A kept cost file gets the new activated figures.
    """
    from harness.io import atomic_write_json, read_json

    try:
        activated = activated_params(run, expected=expected)
        out = {b: {"activated_params_b": round(v, 3)} for b, v in activated["per_benchmark"].items()}
    except HarnessError:  # a model of unknown size: no figure, rather than the last run's
        activated, out = None, {b: {"activated_params_b": None} for b in run["benchmarks"]}
    path = cost_path(run_file)
    if earlier_config is not None and _unseeded(earlier_config) != _unseeded(run.get("router_config")):
        for columns in out.values():
            columns.update(dict.fromkeys(MEASURED_COLUMNS))
        path.unlink(missing_ok=True)
    elif path.exists() and activated is not None:
        atomic_write_json(path, {**read_json(path), "activated_params_b": activated})
    return out


def _unseeded(router_config: dict | None) -> dict:
    """A router config without its seed: seeds change weights, not FLOPs or latency."""
    return {k: v for k, v in (router_config or {}).items() if k != "seed"}


def leaderboard_values(result: dict[str, Any], benchmark: str) -> dict[str, Any]:
    """One leaderboard row's cost columns: per-query means over all benchmarks (the figure a router is
    compared by), and the activated parameters of that row's benchmark."""
    activated = result.get("activated_params_b", {}).get("per_benchmark", {}).get(benchmark)
    return {"gflops": _sig(result["gflops"]), "gflops_dense": _sig(result["gflops_dense"]),
            "latency_ms": round(result["latency_ms"], 3), "latency_p95_ms": round(result["latency_p95_ms"], 3),
            "router_params": result["router_params"],
            "activated_params_b": None if activated is None else round(activated, 3)}


def _sig(value: float, digits: int = 5) -> float:
    return 0.0 if value == 0 else float(f"{value:.{digits}g}")


def row_updates(result: dict[str, Any], key: tuple[str, str, str, str]) -> list[tuple[dict, dict]]:
    """(match, cost columns) for every benchmark row of a run's group (router, pool, protocol, profile)."""
    name, pool, protocol, profile = key
    match = {"router": name, "pool": pool, "protocol": protocol, "profile": profile}
    return [({**match, "benchmark": bench}, leaderboard_values(result, bench)) for bench in result["per_benchmark"]]


def fill_leaderboard(routers: list[str] | None = None, *, strict: bool | None = None, missing: bool = False,
                     **settings: Any) -> list[dict[str, Any]]:
    """Measure every run on the leaderboard (or those of ``routers``), write ``results/cost/<run>.json``
    and the rows' cost columns. Named routers must be measurable; with none named, runs whose router
    cannot be measured yet are skipped with a message. ``missing``: a run with a cost file (its own or
    another seed's of the same router, pool, protocol and profile) is not measured again; the stored
    figures are (re)applied to its rows."""
    from harness import leaderboard
    from harness.io import atomic_write_json, read_json

    strict = bool(routers) if strict is None else strict
    rows = leaderboard.read_rows()
    done, updates = [], []
    try:
        for key, row in _groups(rows, routers).items():
            found = stored_cost(row["run_file"]) if missing else None
            if found:
                updates += row_updates(read_json(found), key)
                continue
            try:
                result = measure_run(row, **settings)
            except HarnessError as exc:
                if strict:
                    raise
                print(f"skipped {key[0]} ({key[1]}, {key[2]}): {exc}", file=sys.stderr)
                continue
            atomic_write_json(cost_path(row["run_file"]), result)
            updates += row_updates(result, key)
            done.append(result)
    finally:  # what was measured before a failure still reaches the leaderboard
        if updates:
            leaderboard.set_many(updates)
    return done
