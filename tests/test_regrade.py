"""Re-grading on the real cache: extraction, math-verify equivalence, execution in the sandbox,
agreement with the cached verdicts, the regraded candidates, and the CLI."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from benchmarks import get_benchmark
from harness.core import config, store
from harness.grading import regrade
from harness.core.errors import HarnessError
from tests.conftest import cli_env

YI = "Yi-1.5-34B-Chat"


@pytest.mark.parametrize("text,bench,expected", [
    ("so the total is \\boxed{18}.", "gsm8k", ("18", "boxed number")),
    ("\\boxed{16 liters}", "gsm8k", ("16", "boxed number")),
    ("It costs $1,234 in all, not 5.", "gsm8k", ("5", "last number")),
    ("\\boxed{\\frac{1}{2}} and \\boxed{\\sqrt{3}}", "math", ("\\sqrt{3}", "boxed")),
    ("\\boxed{x^{2}+\\{1\\}}", "math", ("x^{2}+\\{1\\}", "boxed")),
    ("no answer here", "gsm8k", (None, "none")),
])
def test_extraction(text, bench, expected):
    assert regrade.extract_answer(text, bench) == expected


@pytest.mark.parametrize("answer,ref,ok", [
    ("\\boxed{\\frac{1}{2}}", "0.5", True), ("\\boxed{\\dfrac12}", "\\frac{1}{2}", True),
    ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", True), ("\\boxed{3}", "4", False),
    ("The answer is \\boxed{(1,2)}", "(1, 2)", True),
])
def test_math_verify_equivalence(answer, ref, ok):
    assert regrade.grade_math(answer, ref, "math")[0] is ok


@pytest.mark.parametrize("bench,limit,floor", [("gsm8k", 150, 95.0), ("math", 150, 95.0)])
def test_math_regrade_agrees_with_cache(bench, limit, floor):
    r = regrade.regrade_model(bench, YI, limit=limit, use_cache=False)  # really runs math-verify
    assert r.n == limit and r.agreement >= floor
    assert r.disagreements() == [i for i in range(r.n) if r.cached[i] != r.regraded[i]]


def test_code_regrade_humaneval_matches_cache():
    r = regrade.regrade_model("humaneval", YI, use_cache=False)  # all 164 programs, executed
    assert r.n == 164 and r.agreement >= 98.0
    assert abs(r.accuracy(r.regraded) - 69.51) < 2.0


def test_code_regrade_mbpp_matches_cache():
    r = regrade.regrade_model("mbpp", "Qwen2.5-Coder-7B-Instruct", limit=120)
    assert r.n == 120 and r.agreement >= 98.0


def test_a_wrong_program_is_caught():
    # the cached passing completion of HumanEval/0 with its comparison flipped must fail
    good = regrade.humaneval_program("HumanEval/0", "    return any(abs(a - b) < threshold for i, a in "
                                     "enumerate(numbers) for b in numbers[i + 1:])\n")
    bad = good.replace("< threshold", "> threshold")
    assert [ok for ok, _ in regrade.run_programs([good, bad], use_cache=False)] == [True, False]


def test_report_lists_classes():
    r = regrade.regrade_model("gsm8k", "Llama-3.1-8B-Instruct", limit=300)
    dis = r.disagreements()
    assert len(dis) >= 5  # measured: 13, every one cached wrong and re-graded right
    text = regrade.report_markdown([r])
    up = sum(1 for i in dis if r.regraded[i])
    assert (f"| Llama-3.1-8B-Instruct | 300 | 84.00 | {r.accuracy(r.regraded):.2f} | {r.agreement:.2f} | "
            f"{len(dis) - up} | {up} |") in text  # 84.00: the cache's own verdicts on these items
    assert f"All models: {300 - len(dis)}/300 items agree" in text
    classes = text.split("| disagreement class | items |\n|---|---|\n")[1].split("\n\n")[0].splitlines()
    counts = {line.strip("| ").rsplit(" | ", 1)[0]: int(line.strip("| ").rsplit(" | ", 1)[1]) for line in classes}
    assert sum(counts.values()) == len(dis)
    for name in counts:  # each class shows examples naming real disagreeing items
        examples = text.split(f"**{name}** — e.g.:\n")[1].split("\n\n")[0].splitlines()
        assert 1 <= len(examples) <= 3
        assert all(int(e.split(" item ")[1].split(":")[0]) in {int(r.ids[i]) for i in dis} for e in examples)


def test_write_regraded_candidate(tmp_path, monkeypatch):
    """The regraded copy is a normal candidate: the store reads it and its score is the re-grade."""
    src = config.cache_root()
    dst = tmp_path / "data" / "compressed_data"
    for path in src.rglob("*"):
        if path.is_file() and path.name != ".verified.json" and "test/HumanEval" in path.as_posix():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    monkeypatch.setenv("HARNESS_DATA_DIR", str(dst.parent))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(config.parsed_cache_dir()))
    store.clear_memo()
    r = regrade.regrade_model("humaneval", YI)
    regrade.write_regraded(r)
    data = store.load("humaneval", [YI + regrade.REGRADED_SUFFIX])
    adapter = get_benchmark("humaneval")
    assert adapter.score(data, data.fixed_choice(0))["score"] == pytest.approx(r.accuracy(r.regraded))
    assert np.array_equal(data.native["correct"][:, 0].astype(bool), np.array(r.regraded))
    store.clear_memo()


def test_partial_regrade_is_not_written():
    r = regrade.regrade_model("gsm8k", YI, limit=5)
    with pytest.raises(HarnessError, match="complete re-grade"):
        regrade.write_regraded(r)


def test_unknown_benchmark_is_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness", "regrade", "--benchmark", "alpacaeval"],
                          env=cli_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: BENCHMARK=alpacaeval")


def test_cli_regrade_writes_report(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness", "regrade", "--benchmark", "gsm8k",
                           "--pool", YI, "--limit", "40"], env=cli_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # a --pool / --limit run writes a report of its own: it never replaces the full one
    (written,) = (tmp_path / "regrade").glob("gsm8k*.md")
    assert written.name != "gsm8k.md" and "first40" in written.name
    report = written.read_text()
    row = next(line for line in report.splitlines() if line.startswith(f"| {YI} | 40 |"))
    assert row in proc.stdout  # the report it prints is the one it wrote
