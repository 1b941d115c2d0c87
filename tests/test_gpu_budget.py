"""`make gpu-budget` (harness/experiments/gpu_budget.py) runs unchanged on a CPU with the smoke profile:
mlc, lookahead_mlm and lookahead_clm under cv, run files with the hardware and the loss curves of every
fold, their cost files and leaderboard cost columns, and the summary table."""
from __future__ import annotations

import json

from harness.core import runner
from harness.experiments import gpu_budget
from routers.profiles import settings


def test_smoke_budget_run_on_cpu(results_dir):
    s = gpu_budget.BudgetSettings(profile="smoke", benchmarks=("humaneval", "mbpp"), folds=2, cost_sample=2)
    text = gpu_budget.run(s).read_text()
    for router in ("mlc", "lookahead_mlm", "lookahead_clm"):
        name = runner.run_file_name(router, "paper5", "cv", "smoke", 0)
        run = json.loads((results_dir / "runs" / name).read_text())
        folds = run["routing"]["training"]
        assert len(folds) == 2 and all(f["hardware"]["device"] == "cpu" and f["hardware"]["precision"] == "fp32"
                                       for f in folds)
        assert all(f["routing_loss_curve"] for f in folds)
        if router.startswith("lookahead"):
            for f in folds:  # each fold's flag says what its own figures say
                assert f["response_loss_curve"] and f["response_frequency_loss"] > 0
                untrained = f["response_loss_min"] >= f["response_frequency_loss"]
                assert untrained == any("from its position alone" in flag for flag in f["flags"])
        flagged = [(i, f) for i, fold in enumerate(folds) for f in fold["flags"]]
        assert run["flags"] == [f"fold {i + 1}/2: {f}" for i, f in flagged]
        cost = json.loads((results_dir / "cost" / name).read_text())
        assert cost["gflops"] > 0
        assert f"| {router} | cpu, fp32 |" in text
    assert "Whole command:" in text


def test_clm_only_when_the_time_left_allows_it():
    s = gpu_budget.BudgetSettings(budget_s=600)
    assert gpu_budget._fits("lookahead_clm", s, {"mlc": 30, "lookahead_mlm": 100}, elapsed=200) is None
    assert "left" in gpu_budget._fits("lookahead_clm", s, {"mlc": 30, "lookahead_mlm": 300}, elapsed=400)
    assert gpu_budget._fits("lookahead_mlm", s, {}, elapsed=10**4) is None  # the required ones always run


def test_gpu_profile_is_the_papers_budget_on_the_offline_backbones():
    mlm = settings("gpu", "classifier", "lookahead_mlm")
    assert (mlm["backbone"], mlm["span"], mlm["epochs"], mlm["batch_size"], mlm["lr"]) == ("minilm", 64, 4, 64, 5e-5)
    assert mlm["precision"] == "bf16" and mlm["max_query_len"] + 5 * 65 <= 512  # MiniLM's positions
    clm = settings("gpu", "classifier", "lookahead_clm")
    assert clm["num_layers"] is None and clm["train_layers"] is None and clm["epochs"] == 2
    assert clm["joint_mask_mb"]


def test_the_recipe_fits_the_3_and_8_candidate_pools():
    """At T = 8 the gpu profile's m = 64 spans need 180 + 8 x 65 positions, more than MiniLM's 512: the
    recipe cuts m to the largest that fits and says so; T = 3 and 5 keep m = 64. paper8 exists in the
    cache for AlpacaEval only, so that is what it trains on."""
    from harness.core.pools import POOLS

    assert gpu_budget.fitting_span(180, 8, 64, 512) == 40 and 180 + 8 * 41 <= 512 < 180 + 8 * 42
    assert gpu_budget.fitting_span(180, 5, 64, 512) == 64
    for pool, span in (("paper3", None), ("paper5", None), ("paper8", 40)):
        s = gpu_budget.BudgetSettings(pool=pool)
        opts = gpu_budget.router_options("lookahead_mlm", s, list(POOLS[pool]))
        assert opts.get("span") == span and (("lookahead_mlm" in s.adjusted) == (span is not None))
        assert gpu_budget.router_options("mlc", s, list(POOLS[pool])) == {}
    s8 = gpu_budget.BudgetSettings(pool="paper8")
    assert gpu_budget.pool_benchmarks(s8, list(POOLS["paper8"])) == ["alpacaeval"]
    assert len(gpu_budget.pool_benchmarks(gpu_budget.BudgetSettings(pool="paper3"), list(POOLS["paper3"]))) == 7


def test_an_adjusted_router_is_trained_costed_and_listed_under_its_own_run_file(results_dir, monkeypatch):
    """When the span is cut to fit (here: positions shrunk so that the smoke profile must cut it), the run
    is named by that option, and the costing and the summary find it there (T = 8, AlpacaEval only)."""
    import routers.backbones

    monkeypatch.setattr(routers.backbones, "max_positions", lambda name: 60)  # 32 + 8 x (2 + 1) <= 60
    s = gpu_budget.BudgetSettings(profile="smoke", pool="paper8", folds=2, cost_sample=2,
                                  routers=("lookahead_mlm",))
    text = gpu_budget.run(s).read_text()
    name = runner.run_file_name("lookahead_mlm", "paper8", "cv", "smoke(span=2)", 0)
    run = json.loads((results_dir / "runs" / name).read_text())
    assert run["router_config"]["span"] == 2 and list(run["benchmarks"]) == ["alpacaeval"]
    assert (results_dir / "cost" / name).exists() and f"`runs/{name}`" in text
    assert "- lookahead_mlm: span=2 (profile: 8; 32 + 8 x 9 positions exceed the backbone's 60)." in text
