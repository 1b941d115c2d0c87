"""End to end through the runner: rows, normalization, replacement, run files, user routers."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
import time

import pytest

from harness.api import EvalConfig, evaluate
from tests.conftest import cli_env

FAST = ["mtbench", "gsm8k", "humaneval"]
DOCUMENTED_COLUMNS = (
    "router, pool, protocol, profile, seed, benchmark, metric, score, normalized, ci_low, ci_high, n_items, "
    "n_dropped, gflops, gflops_dense, latency_ms, latency_p95_ms, router_params, activated_params_b, commit, "
    "data_manifest, created, run_file, conventions, usd_total, usd_per_item").split(", ")


def _rows(results_dir):
    with open(results_dir / "leaderboard.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_oracle_and_random_normalize_to_100_and_0(results_dir):
    oracle = evaluate(EvalConfig(router="oracle", benchmarks=FAST))
    random = evaluate(EvalConfig(router="random", benchmarks=FAST))
    assert all(r.normalized == pytest.approx(100.0) for r in oracle)
    assert all(r.normalized == pytest.approx(0.0) for r in random)
    rows = _rows(results_dir)
    assert {(r["router"], r["protocol"]) for r in rows} == {("oracle", "none"), ("random", "none")}
    # the documented columns (README, "Where results go"), in order: COLUMNS itself would only
    # compare the writer with itself
    assert list(rows[0]) == DOCUMENTED_COLUMNS
    assert rows[0]["data_manifest"] and rows[0]["commit"] and rows[0]["created"]


def test_rerun_replaces_rows_and_keeps_others(results_dir):
    evaluate(EvalConfig(router="fixed:Qwen2.5-Coder-7B-Instruct", benchmarks=FAST))
    evaluate(EvalConfig(router="oracle", benchmarks=["gsm8k"]))
    evaluate(EvalConfig(router="fixed:Qwen2.5-Coder-7B-Instruct", benchmarks=FAST))
    rows = _rows(results_dir)
    assert len(rows) == len(FAST) + 1
    humaneval = next(r for r in rows if r["benchmark"] == "humaneval" and r["router"].startswith("fixed"))
    assert float(humaneval["score"]) == pytest.approx(87.1951, abs=1e-3)
    md = (results_dir / "leaderboard.md").read_text()
    assert "fixed:Qwen2.5-Coder-7B-Instruct" in md and "| oracle |" in md


def test_run_file_has_choices_config_and_provenance(results_dir):
    evaluate(EvalConfig(router="oracle", benchmarks=["humaneval"]))
    run = json.loads(next((results_dir / "runs").glob("oracle__paper5.json")).read_text())
    bench = run["benchmarks"]["humaneval"]
    assert len(bench["choice"]) == len(bench["ids"]) == 164
    assert bench["ids"][0] == "HumanEval/0"
    assert set(run["provenance"]) >= {"commit", "data_manifest", "created", "code", "user_files", "candidate_files"}
    assert run["provenance"]["user_files"] == {} and len(run["provenance"]["code"]) == 16
    assert run["config"]["router"] == "oracle"


def test_custom_pool_and_monte_carlo_random(results_dir):
    pool = "Yi-1.5-34B-Chat,Phi-3-medium-4k-instruct,gemma-2-9b-it"
    results = evaluate(EvalConfig(router="random", pool=pool, benchmarks=["alpacaeval", "mtbench"],
                                  random_draws=5))
    mt = next(r for r in results if r.benchmark == "mtbench")
    assert abs(mt.details["mc_mean"] - mt.score) < 0.2 and mt.details["mc_std"] > 0
    assert _rows(results_dir)[0]["pool"] == pool


USER_ROUTER = textwrap.dedent('''
    import numpy as np
    from routers import register_router
    from routers.base import Router

    @register_router("last_candidate_for_code")
    class LastForCode(Router):
        """Routes code prompts to the last candidate, everything else to the first."""
        def predict(self, items):
            scores = np.zeros((len(items), len(self.models)))
            for i, prompt in enumerate(items.prompts):
                scores[i, -1 if "def " in prompt else 0] = 1
            return scores
''')


def test_user_router_file_end_to_end(tmp_path, results_dir):
    module = tmp_path / "my_router.py"
    module.write_text(USER_ROUTER)
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "eval", "--router", "last_candidate_for_code",
         "--benchmarks", "gsm8k,humaneval"],
        env=cli_env(results_dir, ROUTER_MODULE=str(module)), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {r["benchmark"]: r for r in _rows(results_dir)}
    assert float(rows["humaneval"]["score"]) == pytest.approx(87.1951, abs=1e-3)  # Qwen2.5-Coder
    assert float(rows["gsm8k"]["score"]) == pytest.approx(88.4003, abs=1e-3)  # Yi-1.5-34B


def test_parallel_runs_never_lose_each_others_rows(results_dir, tmp_path):
    """Two processes writing the leaderboard at once (two `make eval` in two terminals): the lock
    keeps every row (without it, one process's read-modify-write overwrites the other's)."""
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from harness.core import leaderboard
        while not Path({str(go)!r}).exists():
            time.sleep(0.01)
        for k in range(40):
            leaderboard.update([{{"router": f"fixed:{{sys.argv[1]}}{{k}}", "pool": "paper5", "protocol": "none",
                                  "profile": "-", "seed": 0, "benchmark": "gsm8k", "metric": "accuracy",
                                  "score": 50.0, "normalized": 0.0, "n_items": 1, "n_dropped": 0}}])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, name], env=cli_env(results_dir)) for name in "ab"]
    time.sleep(3)  # both imported and waiting
    go.touch()
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    routers = {r["router"] for r in _rows(results_dir)}
    assert routers == {f"fixed:{name}{k}" for name in "ab" for k in range(40)}
