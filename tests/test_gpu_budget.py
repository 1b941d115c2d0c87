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
            assert all(f["response_loss_curve"] and "flags" in f for f in folds)
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
