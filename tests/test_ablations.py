"""`routing-harness ablations` (harness/experiments/ablations.py): rows over seeds, paired differences against the
full lookahead_mlm, the claim verdicts, training of missing runs and resume, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.experiments import ablations
from harness import cli
from harness.core import runner
from harness.report.bootstrap import Settings
from tests.stats_fixtures import NOISY, SEEDS, build_runs

QUICK = Settings(resamples=200, seed=1)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return build_runs(tmp_path_factory.mktemp("ablations"))


def _copy_as(source: Path, dest: Path, src_name: str, router: str, seeds=SEEDS) -> None:
    """A real run file (evaluated on the cache) filed under an ablation row's name and seeds."""
    raw = json.loads((source / "runs" / src_name).read_text())
    for seed in seeds:
        row = dict(raw, router=router, protocol="cv", profile="cpu", seed=seed)
        path = dest / "runs" / runner.run_file_name(router, "paper5", "cv", "cpu", seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row))


def _noisy(seed: int) -> str:
    return runner.run_file_name(NOISY, "paper5", "cv", "cpu", seed)


@pytest.fixture
def rows(source, results_dir) -> Path:
    for seed in SEEDS:  # full method and MLC: the same three real seeds, so identical rows
        _copy_as(source, results_dir, _noisy(seed), "lookahead_mlm", seeds=(seed,))
        _copy_as(source, results_dir, _noisy(seed), "mlc", seeds=(seed,))
    _copy_as(source, results_dir, "oracle__paper5.json", "lookahead_mlm_nolm", seeds=(0,))  # far better
    _copy_as(source, results_dir, runner.run_file_name("fixed:Qwen2.5-Coder-7B-Instruct", "paper5", "none", "-", 0),
             "lookahead_mlm_nocurr")  # far worse
    return results_dir


def test_table_rows_differences_and_verdicts(rows):
    s = ablations.AblationSettings(profile="cpu", train=False, bootstrap=QUICK)
    text = ablations.run(s).read_text()
    lines = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert lines["lookahead_mlm"].split(" | ")[2] == "0,1,2"
    assert "+0.00 [0.00, 0.00] | 1.000" in lines["mlc"]  # identical rows: no difference, p = 1
    assert "| 100.0 |" in lines["lookahead_mlm_nolm"]  # the oracle's own mu_n
    beats = next(line for line in text.splitlines() if "**Lookahead beats MLC**" in line)
    assert "not resolved here (statistically tied)" in beats  # identical rows: the claim's own verdict
    nolm = next(line for line in text.splitlines() if "**response modeling helps**" in line)
    assert "contradicted here" in nolm and "provisional" in nolm  # one seed against three
    curr = next(line for line in text.splitlines() if "**the curriculum helps**" in line)
    assert "supported here" in curr and "provisional" not in curr
    assert "Not run yet: lookahead_mlm_startmask, lookahead_mlm_randmask, lookahead_mlm_separate" in text
    assert "Fewer seeds than requested: lookahead_mlm_nolm (0)" in text


def test_requested_seeds_only(rows):
    s = ablations.AblationSettings(profile="cpu", seeds=(1,), train=False, bootstrap=QUICK)
    runs = ablations.row_runs(s)
    assert [r.seed for r in runs["lookahead_mlm"]] == [1] and "lookahead_mlm_nolm" not in runs
    assert ("lookahead_mlm_nolm", 1) in ablations.missing_runs(s)


def test_trains_missing_runs_then_reuses_them(results_dir):
    s = ablations.AblationSettings(profile="smoke", seeds=(0,), routers=("lookahead_mlm", "lookahead_mlm_nolm"),
                                   folds=2, benchmarks=("humaneval", "mbpp"), bootstrap=QUICK)
    text = ablations.run(s).read_text()
    files = sorted((results_dir / "runs").glob("*.json"))
    assert [f.name for f in files] == [runner.run_file_name(r, "paper5", "cv", "smoke", 0)
                                       for r in ("lookahead_mlm", "lookahead_mlm_nolm")]
    assert "| lookahead_mlm_nolm |" in text and "HumanEval" in text
    stamps = [f.stat().st_mtime_ns for f in files]
    ablations.run(s)  # nothing missing: nothing is trained again
    assert [f.stat().st_mtime_ns for f in files] == stamps


@pytest.mark.parametrize("args, needle", [
    (["--routers", "knn"], "knn"),
    (["--routers", "mlc"], "lookahead_mlm"),
    (["--seeds", "a,b"], "--seeds"),
    (["--profile", "huge"], "huge"),
])
def test_bad_input_is_one_line(results_dir, capsys, args, needle):
    assert cli.main(["ablations", "--no-train", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0]


def test_no_full_run_is_an_error(results_dir):
    with pytest.raises(ablations.HarnessError, match="no lookahead_mlm run"):
        ablations.run(ablations.AblationSettings(profile="cpu", train=False, bootstrap=QUICK))
