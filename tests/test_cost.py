"""Router cost: hand-checked FLOP counts, slopes in T on tiny random backbones, the CLM MID mask,
latency, activated parameters and the `cost` command."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from harness.core import run_costs
from harness.cost import measure, runs as cost, paper_backbones as cost_paper  # noqa: E402
from harness.cli import main  # noqa: E402
from routers.layouts import additive_mask, clm_mid_input, mlm_joint_input  # noqa: E402
from harness.core.errors import HarnessError  # noqa: E402
from harness.api import EvalConfig, evaluate  # noqa: E402
from routers import build_router, register_router  # noqa: E402
from routers.base import Router, RouterContext, RoutingData  # noqa: E402

SDPA = F.scaled_dot_product_attention  # before any counting patch
IDS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)
TINY = {
    "ModernBERT": ("modernbert", dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                                      intermediate_size=96, vocab_size=512, **IDS)),
    "SmolLM2": ("llama", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                              intermediate_size=96, vocab_size=512, **IDS)),
}


@pytest.fixture(scope="module")
def tiny():
    return {name: cost_paper.build_backbone(family, **settings) for name, (family, settings) in TINY.items()}


# --- hand computations ------------------------------------------------------------------------------

def test_single_linear_layer_matches_hand_count():
    layer = nn.Linear(16, 8)
    _, count = measure.count_flops(layer, torch.randn(4, 16))
    assert count.total == count.dense == 2 * 4 * 16 * 8  # one multiply-add per weight and row
    assert count.attention == 0


class OneLayerAttention(nn.Module):
    """q, k, v, o projections and SDPA: dense 4 * 2*L*d^2; attention 2 * 2*L^2*d (QK^T and AV)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x, causal=False, mask=None):
        b, n, d = x.shape
        split = lambda t: t.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        out = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)),
                                             attn_mask=mask, is_causal=causal)
        return self.o(out.transpose(1, 2).reshape(b, n, d))


@pytest.mark.parametrize("variant", ["plain", "causal", "bool mask", "float mask"])
def test_one_layer_attention_matches_hand_count_in_both_conventions(variant):
    n, d, heads = 10, 32, 4
    block, x = OneLayerAttention(d, heads).eval(), torch.randn(1, n, d)
    mask = {"bool mask": torch.ones(n, n, dtype=torch.bool).tril(), "float mask": torch.zeros(n, n)}.get(variant)
    with torch.no_grad():
        reference = block(x, causal=variant == "causal", mask=mask)
    out, count = measure.count_flops(block, x, causal=variant == "causal", mask=mask)
    assert count.dense == 4 * 2 * n * d * d
    assert count.attention == 2 * 2 * n * n * d  # masked positions are computed, so counted
    assert count.total == count.dense + count.attention
    torch.testing.assert_close(out, reference, rtol=1e-4, atol=1e-5)  # the explicit version is exact
    assert F.scaled_dot_product_attention is SDPA  # the counting patch is undone


def test_fused_cpu_sdpa_is_counted_as_attention_even_without_the_patch():
    q = k = v = torch.randn(1, 4, 10, 8)
    fused = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    _, count = measure.count_flops(lambda: fused(q, k, v))
    assert count.total == count.attention == 2 * 2 * 4 * 10 * 10 * 8


def test_hf_backbone_attention_goes_through_the_counter(tiny):
    n = 20
    for name, model in tiny.items():
        cfg = model.config
        _, count = measure.count_flops(lambda: model(input_ids=torch.full((1, n), 5)))
        # every layer: QK^T and AV over all query heads (GQA's shared K/V heads are repeated)
        assert count.attention == cfg.num_hidden_layers * 2 * 2 * n * n * cfg.hidden_size, name
        if name == "SmolLM2":  # dense = 2 FLOPs per token per weight of the layers' linear maps
            kv = cfg.num_key_value_heads * cfg.hidden_size // cfg.num_attention_heads
            d = cfg.hidden_size
            per_layer = 2 * d * d + 2 * d * kv + 3 * d * cfg.intermediate_size
            assert count.dense == 2 * n * cfg.num_hidden_layers * per_layer


# --- slopes in T ------------------------------------------------------------------------------------

@pytest.mark.parametrize("design,backbone,tokens_per_candidate", [
    ("mlc", "ModernBERT", 0), ("mlc", "SmolLM2", 0), ("lookahead_clm", "SmolLM2", 1),
    ("lookahead_mlm", "ModernBERT", 16 + 1)])
def test_gflops_slope_in_T_is_the_designs_tokens_per_candidate(tiny, design, backbone, tokens_per_candidate):
    model, m, query_len = tiny[backbone], 16, 24
    per_token = cost_paper.per_token_cost(model, query_len)
    counts = {t: cost_paper.count_design(design, model, query_len, t, m) for t in (3, 5, 8)}
    head = 2 * model.config.hidden_size  # the head's output layer grows by one d-vector per candidate
    for a, b in [(3, 5), (5, 8)]:
        slope = (counts[b].dense - counts[a].dense) / (b - a)
        assert slope == pytest.approx(tokens_per_candidate * per_token.dense + head, rel=1e-9)
    # with attention: the growth is exactly that of a plain sequence of the same lengths
    encoder = backbone == "ModernBERT"
    lengths = {t: cost_paper.sequence_length(design, encoder, query_len, t, m) for t in (3, 8)}
    plain = {t: measure.count_flops(lambda n=n: model(input_ids=torch.full((1, n), 5)))[1] for t, n in lengths.items()}
    grown = counts[8].total - counts[3].total - 5 * head
    assert grown == pytest.approx(plain[8].total - plain[3].total, rel=1e-9)
    if tokens_per_candidate == 0:
        assert counts[8].total - counts[3].total == 5 * head  # flat: the head only


# --- layouts ----------------------------------------------------------------------------------------

def test_clm_joint_pass_gives_every_candidate_its_separate_sequence_state(tiny):
    model = tiny["SmolLM2"]
    query, mids = list(range(10, 22)), [511, 510, 509, 508]
    ids, positions, mask = clm_mid_input(query, mids)
    assert positions[len(query):] == [len(query)] * len(mids)
    with torch.no_grad():
        separate = torch.stack([model(input_ids=torch.tensor([query + [t]])).last_hidden_state[0, -1] for t in mids])
        for implementation, given in [("sdpa", mask), ("eager", additive_mask(mask))]:
            model.config._attn_implementation = implementation
            try:
                joint = model(input_ids=torch.tensor([ids]), position_ids=torch.tensor([positions]),
                              attention_mask=given[None, None]).last_hidden_state[0, len(query):]
            finally:
                model.config._attn_implementation = "sdpa"
            torch.testing.assert_close(joint, separate, rtol=1e-4, atol=1e-5)


def test_mlm_joint_layout():
    ids, positions = mlm_joint_input([7, 8, 9], [100, 101], m=4, cls_id=1, sep_id=2)
    assert ids == [1, 7, 8, 9, 2] + [100] * 4 + [2] + [101] * 4 + [2]
    assert positions == list(range(5)) + list(range(5, 10)) * 2  # restart: every span at the same positions
    _, straight = mlm_joint_input([7, 8, 9], [100, 101], m=4, cls_id=1, sep_id=2, span_positions="straight")
    assert straight == list(range(15))


# --- measuring routers ------------------------------------------------------------------------------

DIM = 8


@register_router("cost_test_tiny")
class TinyTorchRouter(Router):
    """Learned (fit is a no-op), torch head: FLOPs per query = 2 * DIM * T exactly."""

    learns = True

    def fit(self, train, valid=None):
        self.init_untrained()

    def init_untrained(self):
        torch.manual_seed(0)
        self.head = nn.Linear(DIM, len(self.models))

    def predict(self, items):
        feats = torch.tensor([[len(p) % (k + 2) for k in range(DIM)] for p in items.prompts], dtype=torch.float32)
        with torch.no_grad():
            return self.head(feats).numpy().astype(np.float64)

    def parameter_count(self):
        return sum(p.numel() for p in self.head.parameters())

    def extra_flops_per_query(self):
        return 100.0

    variant = "a"  # stands for an architecture setting of the profile

    def config(self):  # what the run file records
        return {"seed": self.ctx.seed, "variant": self.variant}

    def save(self, path):  # what harness.core.protocols calls after each cv fold
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.head.state_dict(), path)

    def load(self, path):
        self.init_untrained()
        self.head.load_state_dict(torch.load(path))
        self.loaded_from = path


def _items(models, n_per=6):
    benches = ["alpha"] * n_per + ["beta"] * (2 * n_per)
    prompts = [f"query {'x' * (i * 7 % 50)}" for i in range(len(benches))]
    scores = np.random.default_rng(0).random((len(benches), len(models)))
    return RoutingData(uids=[f"{b}/{i}" for i, b in enumerate(benches)], benchmarks=benches, prompts=prompts,
                       models=list(models), scores=scores)


def test_measure_router_counts_flops_latency_and_params(paper5):
    router = build_router("cost_test_tiny", RouterContext(models=paper5))
    router.init_untrained()
    result = measure.measure_router(router, _items(paper5), sample_per_benchmark=4, warmup=1, batch_size=5)
    expected = (2 * DIM * len(paper5) + 100.0) / 1e9
    assert result["gflops"] == pytest.approx(expected) and result["gflops_dense"] == pytest.approx(expected)
    assert result["at_mean_length"]["gflops"] == pytest.approx(expected)
    assert {b: v["n_sampled"] for b, v in result["per_benchmark"].items()} == {"alpha": 4, "beta": 4}
    assert 0 < result["latency_ms"] <= result["latency_p95_ms"]
    assert result["throughput"]["queries_per_s"] > 0 and result["router_params"] == DIM * 5 + 5
    assert result["device"].startswith(("cpu", "cuda"))


@pytest.mark.parametrize("name", ["random", "oracle", "fixed:Phi-3-medium-4k-instruct"])
def test_reference_routers_cost_nothing(paper5, name):
    router = build_router(name, RouterContext(models=paper5))
    result = measure.measure_router(router, _items(paper5), sample_per_benchmark=3, warmup=1, batch_size=4)
    assert result["gflops"] == result["gflops_dense"] == result["at_mean_length"]["gflops"] == 0
    assert result["router_params"] == 0 and result["latency_ms"] <= result["latency_p95_ms"]


def test_activated_params_per_benchmark_mean_of_means_and_pooled():
    run = {"models": ["Yi-1.5-34B-Chat", "Qwen2.5-Coder-7B-Instruct"],
           "benchmarks": {"a": {"ids": [1, 2], "choice": [0, 1]}, "b": {"ids": [1, 2, 3, 4], "choice": [1, 1, 1, 1]}}}
    out = run_costs.activated_params(run)
    assert out["per_benchmark"] == pytest.approx({"a": 21.0, "b": 7.6})
    assert out["mean_of_means"] == pytest.approx(14.3)
    assert out["pooled"] == pytest.approx((34.4 + 7.6 * 5) / 6)
    random = run_costs.activated_params(run, expected=True)  # uniform: the mean of the pool's sizes
    assert random["pooled"] == random["mean_of_means"] == pytest.approx(21.0)
    with pytest.raises(HarnessError, match="unknown-model"):
        run_costs.activated_params({**run, "models": ["unknown-model", "Yi-1.5-34B-Chat"]})


# --- the command ------------------------------------------------------------------------------------

def _rows(results_dir):
    with open(results_dir / "leaderboard.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_obtain_router_prefers_a_saved_fold_router(tmp_path, monkeypatch, paper5):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    run = {"models": paper5, "seed": 0, "profile": "cpu", "config": {"options": {}},
           "routing": {"training": [{"fold": 0, "cache_key": "k0"}, {"fold": 1, "cache_key": "k1"}]}}
    router, weights = cost.obtain_router("cost_test_tiny", run)
    assert weights == "untrained"  # nothing saved yet
    router.save(tmp_path / "routers" / "k1.pt")
    router, weights = cost.obtain_router("cost_test_tiny", run)
    assert weights == "fitted" and router.loaded_from.name == "k1.pt"
    router, weights = cost.obtain_router("oracle", run)
    assert weights == "reference"


def test_cost_command_fills_every_row(results_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))  # fresh folds, saved fold routers
    benches = ["humaneval", "mbpp"]
    for name in ["oracle", "random", "fixed:Yi-1.5-34B-Chat", "cost_test_tiny"]:
        evaluate(EvalConfig(router=name, benchmarks=benches, folds=2))
    assert main(["cost", "--sample", "3", "--batch-size", "4"]) == 0
    rows = {(r["router"], r["benchmark"]): r for r in _rows(results_dir)}
    assert len(rows) == 8 and all(r["gflops"] != "" and r["latency_ms"] != "" for r in rows.values())
    assert float(rows[("oracle", "mbpp")]["gflops"]) == 0.0
    assert float(rows[("fixed:Yi-1.5-34B-Chat", "humaneval")]["activated_params_b"]) == pytest.approx(34.4)
    assert float(rows[("random", "mbpp")]["activated_params_b"]) == pytest.approx(16.78)  # mean of paper5
    tiny = rows[("cost_test_tiny", "humaneval")]
    assert float(tiny["gflops"]) == pytest.approx((2 * DIM * 5 + 100) / 1e9)
    assert int(tiny["router_params"]) == DIM * 5 + 5
    detail = json.loads((results_dir / "cost" / "cost_test_tiny__paper5__cv__cpu__seed0.json").read_text())
    assert detail["weights"] == "fitted"  # re-used a fold router the cv run saved
    assert "| cost_test_tiny | paper5 | cv | cpu | 0 | fitted |" in (results_dir / "cost.md").read_text()
    # a new seed takes over the rows: --missing measures nothing again, the seed-0 cost file fills them
    evaluate(EvalConfig(router="cost_test_tiny", benchmarks=benches, folds=2, seed=1))
    stored = (results_dir / "cost" / "cost_test_tiny__paper5__cv__cpu__seed0.json").stat().st_mtime_ns
    monkeypatch.setattr(cost, "measure_run", lambda *a, **k: pytest.fail("--missing re-measured a run"))
    assert main(["cost", "--missing"]) == 0
    seed1 = [r for r in _rows(results_dir) if r["router"] == "cost_test_tiny" and r["seed"] == "1"]
    assert len(seed1) == 2 and all(r["gflops"] == tiny["gflops"] for r in seed1)
    assert (results_dir / "cost" / "cost_test_tiny__paper5__cv__cpu__seed0.json").stat().st_mtime_ns == stored


def test_a_rerun_keeps_cost_only_for_the_same_router_config(results_dir, tmp_path, monkeypatch):
    """FLOPs and latency outlive a re-run of the same router (weights do not change them); a changed
    router config (same run name: OPTIONS would name a new profile label) clears them and the cost
    file; activated parameters always follow the new choices."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    benches = ["humaneval", "mbpp"]
    evaluate(EvalConfig(router="cost_test_tiny", benchmarks=benches, folds=2))
    assert main(["cost", "--router", "cost_test_tiny", "--sample", "3", "--batch-size", "4"]) == 0
    cost_file = results_dir / "cost" / "cost_test_tiny__paper5__cv__cpu__seed0.json"
    measured = {r["benchmark"]: r for r in _rows(results_dir)}

    run_file = results_dir / "runs" / "cost_test_tiny__paper5__cv__cpu__seed0.json"
    run = json.loads(run_file.read_text())
    sizes = [run_costs.model_size_b(m) for m in run["models"]]
    monkeypatch.setattr(TinyTorchRouter, "predict", lambda self, items: np.tile(
        np.eye(len(sizes))[int(np.argmin(sizes))], (len(items.prompts), 1)))  # new choices: the smallest
    evaluate(EvalConfig(router="cost_test_tiny", benchmarks=benches, folds=2, seed=3))
    again = {r["benchmark"]: r for r in _rows(results_dir)}
    assert all(again[b]["gflops"] == measured[b]["gflops"] != "" for b in benches)
    assert all(float(again[b]["activated_params_b"]) == pytest.approx(min(sizes)) for b in benches)
    # the first run's choices were not all the smallest model (finite figures: NaN is "not approx" too)
    assert all(float(measured[b]["activated_params_b"]) > min(sizes) + 0.1 for b in benches)
    assert json.loads(cost_file.read_text())["activated_params_b"]["pooled"] > min(sizes) + 0.1

    monkeypatch.setattr(TinyTorchRouter, "variant", "b")  # the profile's defaults edited, say
    evaluate(EvalConfig(router="cost_test_tiny", benchmarks=benches, folds=2))
    changed = {r["benchmark"]: r for r in _rows(results_dir)}
    assert all(changed[b][c] == "" for b in benches for c in run_costs.MEASURED_COLUMNS)
    assert not cost_file.exists()  # scalability would otherwise read the old figures back


def test_cost_command_names_a_router_without_rows(results_dir, capsys):
    evaluate(EvalConfig(router="oracle", benchmarks=["humaneval"]))
    assert main(["cost", "--router", "knn_nope"]) == 2
    assert "router 'knn_nope'" in capsys.readouterr().err
