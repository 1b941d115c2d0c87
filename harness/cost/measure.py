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
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from harness.core.run_costs import activated_params
from routers.base import Router, RoutingData

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
    shown = items if router.uses_test_labels else items.queries(benchmark_label=router.uses_benchmark_label)
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
