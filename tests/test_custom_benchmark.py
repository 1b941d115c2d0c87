"""Issue 21: a benchmark of your own (benchmarks/custom.py): a table of prompt x candidate -> score
in this harness's long layout, RouterBench's wide per-prompt table, EmbedLLM's correctness rows and
RouterEval's router dataset, each built here small in that layout; and the round trip of GSM8K's
cached verdicts through a file to the built-in adapter's scores."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from benchmarks import custom, get_benchmark
from harness.core import store
from harness.core.errors import HarnessError
from harness.core.runner import EvalConfig, evaluate_run
from harness.report import bootstrap
from harness.report.runs import run_from_dict
from tests.conftest import cli_env

MODELS = ["alpha-7b", "beta-13b", "gamma-coder"]


@pytest.fixture(scope="module")
def gsm8k_file(tmp_path_factory):
    """GSM8K's cached verdicts as a long table: one row per (item, candidate), metric accuracy."""
    from harness.core.pools import PAPER5

    data = store.load("gsm8k", list(PAPER5))
    rows = [{"id": item, "prompt": prompt, "model": model, "score": bool(data.native["correct"][i, j]),
             "answer": data.answers[model][i], "metric": "accuracy"}
            for i, (item, prompt) in enumerate(zip(data.ids, data.prompts)) for j, model in enumerate(PAPER5)]
    path = tmp_path_factory.mktemp("byo") / "gsm8k_verdicts.jsonl"
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    return path


@pytest.mark.parametrize("router,protocol", [("oracle", "cv"), ("fixed:Phi-3-medium-4k-instruct", "cv"),
                                             ("task_rules", "cv"), ("task_best", "within")])
def test_gsm8k_round_trips_through_a_file(gsm8k_file, router, protocol, results_dir):
    assert custom.register(f"gsm8k_byo={gsm8k_file}") == ["gsm8k_byo"]
    (built_in,), run_a = evaluate_run(EvalConfig(router=router, benchmarks=["gsm8k"], protocol=protocol))
    (byo,), run_b = evaluate_run(EvalConfig(router=router, benchmarks=["gsm8k_byo"], protocol=protocol))
    assert byo.n_items == built_in.n_items == 1319 and byo.metric == "accuracy"
    assert byo.score == pytest.approx(built_in.score, abs=1e-9)
    assert (byo.random, byo.oracle) == pytest.approx((built_in.random, built_in.oracle), abs=1e-9)
    assert byo.normalized == pytest.approx(built_in.normalized, abs=1e-9)
    assert run_b["benchmarks"]["gsm8k_byo"]["choice"] == run_a["benchmarks"]["gsm8k"]["choice"]
    assert run_b["provenance"]["benchmark_files"]["gsm8k_byo"]["path"] == str(gsm8k_file)
    # the bootstrap scores it too (mean of per-item values): its draws centre on the point figure
    stats = bootstrap.group_stats([run_from_dict(run_b)], bootstrap.Bootstrap(bootstrap.Settings(resamples=200)))
    assert stats.draws_mu_o["gsm8k_byo"].mean() == pytest.approx(byo.score, abs=1.0)


def _long(path, rows: list[dict]):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_long_layout_labels_splits_costs_and_paper_protocol(tmp_path, results_dir):
    rng = np.random.default_rng(0)
    rows = []
    for bench in ("qa", "code"):
        for i in range(12):
            split = "train" if i < 6 else "test"
            for j, model in enumerate(MODELS):
                rows.append({"prompt": f"{bench} question {i}", "model": model, "score": float(rng.random() < 0.3 + 0.2 * j),
                             "cost": 0.001 * (j + 1), "category": bench, "split": split})
    rows.append({"prompt": "qa question 11", "model": "alpha-7b", "score": 1.0, "cost": 0.001, "category": "qa",
                 "split": "test"})  # a duplicated (item, candidate) row: averaged
    names = custom.register(f"mine={_long(tmp_path / 'mine.csv', rows)}")
    assert names == ["mine.qa", "mine.code"]
    data = store.load("mine.qa", MODELS)
    assert data.n_items == 6 and data.prompts[0] == "qa question 6" and data.meta["category"] == ["qa"] * 6
    results, run = evaluate_run(EvalConfig(router="oracle", pool=",".join(MODELS), benchmarks=names))
    assert [r.metric for r in results] == ["mean", "mean"] and all(r.normalized == 100 for r in results)
    assert run["benchmarks"]["mine.qa"]["details"]["mean_cost"] > 0
    (fixed,), _ = evaluate_run(EvalConfig(router="fixed:gamma-coder", pool=",".join(MODELS), benchmarks=["mine.code"]))
    expected = np.mean([r["score"] for r in rows if r["category"] == "code" and r["split"] == "test"
                        and r["model"] == "gamma-coder"])
    assert fixed.score == pytest.approx(expected)
    # PROTOCOL=paper trains on the file's train rows, tests on its test rows
    _, run = evaluate_run(EvalConfig(router="task_best", pool=",".join(MODELS), benchmarks=names, protocol="paper"))
    assert run["routing"]["n_train"] == 12 and run["routing"]["training_sets"] == ["mine"]
    # every fold protocol works on the file's benchmarks
    _, run = evaluate_run(EvalConfig(router="task_rules", pool=",".join(MODELS), benchmarks=names))
    assert run["protocol"] == "none"
    _, run = evaluate_run(EvalConfig(router="task_best", pool=",".join(MODELS), benchmarks=names, protocol="within",
                                     folds=3))
    assert len(run["benchmarks"]["mine.qa"]["reference"]["choice"]) == 6


def test_routerbench_wide_table(tmp_path, results_dir):
    """RouterBench's per-prompt table: a score column per model, <model>|model_response, <model>|total_cost,
    prompts as the str of a list of turns, eval_name as the benchmark."""
    frame = pd.DataFrame({
        "sample_id": [f"gsm8k.dev.{i}" for i in range(4)] + [f"mbpp.dev.{i}" for i in range(4)],
        "prompt": [str([f"Question {i}?"]) for i in range(8)],
        "eval_name": ["grade-school-math"] * 4 + ["mbpp"] * 4,
        "oracle_model_to_route_to": ["gpt-4-1106-preview"] * 8,
    })
    for j, model in enumerate(["gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"]):
        frame[model] = [1.0, 0.0, 1.0, float(j)] * 2
        frame[f"{model}|model_response"] = [str([f"answer {j}"])] * 8
        frame[f"{model}|total_cost"] = [0.01 / (j + 1)] * 8
    path = tmp_path / "routerbench_0shot.parquet"
    frame.to_parquet(path)
    names = custom.register(f"rb={path}")
    assert names == ["rb.grade-school-math", "rb.mbpp"]
    data = store.load("rb.mbpp", ["gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"])
    assert data.ids[0] == "mbpp.dev.0" and data.prompts[0] == "Question 4?" and data.answers["gpt-4-1106-preview"][0] == "answer 0"
    (oracle,), run = evaluate_run(EvalConfig(router="oracle", pool="gpt-4-1106-preview,mistralai/mixtral-8x7b-chat",
                                             benchmarks=["rb.mbpp"]))
    assert oracle.score == pytest.approx(0.75) and oracle.random == pytest.approx(0.625)
    assert run["benchmarks"]["rb.mbpp"]["details"]["mean_cost"] == pytest.approx(0.01 * 3 / 4 + 0.005 / 4)


def test_embedllm_correctness_rows(tmp_path, results_dir):
    """EmbedLLM's train/test.csv: prompt_id, model_id, label, category, prompt, model_name."""
    rows = [{"prompt_id": p, "model_id": m, "label": int((p + m) % 2 == 0), "category": "mmlu_x" if p < 3 else "gsm8k",
             "prompt": f"prompt {p}", "model_name": ["meta-llama/Llama-2-7b", "01-ai/Yi-6B"][m]}
            for p in range(6) for m in range(2)]
    rows.append(dict(rows[0], label=0))  # listed twice (EmbedLLM repeats some prompts): the mean, 0.5
    path = _long(tmp_path / "test.csv", rows)
    names = custom.register(f"embedllm={path}")
    assert names == ["embedllm.mmlu_x", "embedllm.gsm8k"]
    data = store.load("embedllm.mmlu_x", ["meta-llama/Llama-2-7b", "01-ai/Yi-6B"])
    assert data.ids == ["0", "1", "2"] and data.gt[0].tolist() == [0.5, 0.0] and data.gt[1].tolist() == [0.0, 1.0]


def test_routereval_router_dataset(tmp_path, results_dir):
    """RouterEval's router dataset (.npz as its baselines read it): <split>_prompt, <split>_score."""
    path = tmp_path / "router_dataset.npz"
    np.savez(path, train_prompt=np.array(["t0", "t1", "t2", "t3"], dtype=object), val_prompt=np.array(["v0"], dtype=object),
             test_prompt=np.array(["q0", "q1", "q2"], dtype=object),
             train_score=np.array([[1, 0], [1, 0], [0, 1], [1, 0]], dtype=float), val_score=np.array([[0, 1]], dtype=float),
             test_score=np.array([[0.2, 0.9], [0.8, 0.1], [0.5, 0.5]]), model=np.array(["m-a", "m-b"]))
    assert custom.register(str(path)) == ["router_dataset"]
    data = store.load("router_dataset", ["m-a", "m-b"])
    assert data.prompts == ["q0", "q1", "q2"] and data.gt.tolist() == [[0.2, 0.9], [0.8, 0.1], [0.5, 0.5]]
    (fixed,), run = evaluate_run(EvalConfig(router="task_best", pool="m-a,m-b", benchmarks=["router_dataset"],
                                            protocol="paper"))
    assert run["routing"]["n_train"] == 4 and run["routing"]["n_valid"] == 1
    assert fixed.score == pytest.approx(0.5)  # trained on the train split: m-a on every test item


@pytest.mark.parametrize("rows,match", [
    ([{"question": "q", "llm": "a", "value": 1}], "no column for score"),
    ([{"prompt": "q", "model": "a", "score": "high"}, {"prompt": "q", "model": "b", "score": 1}], "row 1: score 'high'"),
    ([{"prompt": "q", "model": "a", "score": 1, "split": "holdout"}, {"prompt": "q", "model": "b", "score": 1, "split": "test"}],
     "split 'holdout'"),
    ([{"prompt": "q", "model": "a", "score": 1}], "1 candidate"),
    ([{"prompt": "q", "model": "a", "score": 1, "metric": "bleu"}, {"prompt": "q", "model": "b", "score": 0, "metric": "bleu"}],
     "metric column"),
])
def test_bad_files_fail_in_one_line_naming_the_file(tmp_path, rows, match):
    path = _long(tmp_path / "bad.csv", rows)
    with pytest.raises(HarnessError, match=match) as info:
        custom.register(f"bad={path}")
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(HarnessError, match="built-in benchmark"):
        custom.register(f"gsm8k={_long(tmp_path / 'ok.csv', [{'prompt': 'q', 'model': m, 'score': 1} for m in 'ab'])}")


def test_cli_benchmark_file_and_its_errors(tmp_path):
    rows = [{"prompt": f"p{i}", "model": m, "score": float((i + j) % 3 == 0)} for i in range(9) for j, m in enumerate(MODELS)]
    path = _long(tmp_path / "scores.csv", rows)
    out = subprocess.run([sys.executable, "-m", "harness", "eval", "--router", "oracle", "--benchmark-file",
                          f"scores={path}", "--no-write", "--resamples", "100"],
                         capture_output=True, text=True, env=cli_env(tmp_path / "results"))
    assert out.returncode == 0, out.stderr
    assert "scores" in out.stdout and "average mu_n: 100.0" in out.stdout and "the benchmark file's candidates" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "harness", "eval", "--router", "oracle", "--no-write"],
                         capture_output=True, text=True, env=cli_env(tmp_path / "results", BENCHMARK_FILE=str(tmp_path / "none.csv")))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: BENCHMARK_FILE=")
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_an_edited_file_is_read_again(tmp_path, results_dir):
    rows = [{"prompt": f"p{i}", "model": m, "score": float(j == 0)} for i in range(5) for j, m in enumerate(MODELS)]
    path = _long(tmp_path / "edit.csv", rows)
    custom.register(f"edited={path}")
    (first,), _ = evaluate_run(EvalConfig(router="fixed:alpha-7b", pool=",".join(MODELS), benchmarks=["edited"]))
    version = get_benchmark("edited").version  # keys the parsed tables, scores and draws: the file's sha256
    _long(path, [dict(r, score=1.0 - r["score"]) for r in rows])
    custom.register(f"edited={path}")
    assert get_benchmark("edited").version != version
    (second,), _ = evaluate_run(EvalConfig(router="fixed:alpha-7b", pool=",".join(MODELS), benchmarks=["edited"]))
    assert (first.score, second.score) == (1.0, 0.0)
