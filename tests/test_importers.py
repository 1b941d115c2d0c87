"""Round trip: export a paper5 model in each native format, import it back under a new name, and
get the same metric; plus the importers' one-line errors. Runs on a symlinked copy of the real
cache, so the shared data folder never changes."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from benchmarks import get_benchmark
from harness.core import config, store
from harness.grading import importers, regrade
from harness.core.errors import HarnessError
from tests.conftest import cli_env

YI = "Yi-1.5-34B-Chat"


@pytest.fixture(scope="module")
def cache_copy(tmp_path_factory):
    src = config.cache_root()
    parsed = config.parsed_cache_dir()
    dst = tmp_path_factory.mktemp("import") / "data" / "compressed_data"
    for path in src.rglob("*"):
        if path.is_file() and path.name != ".verified.json":
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    if (src / ".verified.json").exists():  # same sizes and mtimes through the links: reuse digests
        shutil.copyfile(src / ".verified.json", dst / ".verified.json")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_DATA_DIR", str(dst.parent))
        mp.setenv("HARNESS_CACHE_DIR", str(parsed))
        store.clear_memo()
        yield dst
    store.clear_memo()


def metric(benchmark: str, model: str) -> float:
    data = store.load(benchmark, [model])
    return get_benchmark(benchmark).score(data, data.fixed_choice(0), detail=False)["score"]


@pytest.mark.parametrize("fmt,benchmarks", [
    ("alpaca_eval", ["alpacaeval"]), ("arena_hard", ["arenahard"]), ("mt_bench", ["mtbench"]),
    ("opencompass", ["gsm8k", "math", "humaneval", "mbpp"]),
])
def test_round_trip_same_metric(cache_copy, tmp_path, fmt, benchmarks):
    out = tmp_path / "export"
    exported = getattr(importers, f"export_{fmt}")(YI, out)
    new = f"rt-{fmt.replace('_', '-')}"
    written = importers.import_model(fmt, exported if fmt != "opencompass" else out, new)
    assert written and all(str(p).startswith(str(cache_copy)) for p in written)
    for b in benchmarks:
        assert new in get_benchmark(b).models(cache_copy)
        assert metric(b, new) == pytest.approx(metric(b, YI), abs=1e-9), b


@pytest.mark.parametrize("benchmark", ["humaneval", "mbpp"])
def test_round_trip_evalplus_graded_by_sandbox(cache_copy, tmp_path, benchmark):
    samples = importers.export_evalplus(YI, tmp_path, benchmark)
    new = f"rt-evalplus-{benchmark}"
    importers.import_model("evalplus", samples, new)
    expected = regrade.regrade_model(benchmark, YI)
    assert metric(benchmark, new) == pytest.approx(expected.accuracy(expected.regraded))
    assert metric(benchmark, new) == pytest.approx(metric(benchmark, YI))  # 100% agreement on Yi


@pytest.mark.parametrize("benchmark", ["gsm8k", "math"])
def test_round_trip_lm_eval_regraded(cache_copy, tmp_path, benchmark):
    samples = importers.export_lm_eval(YI, tmp_path, benchmark)
    new = f"rt-lm-eval-{benchmark}"
    importers.import_model("lm_eval", samples, new)
    expected = regrade.regrade_model(benchmark, YI)
    assert metric(benchmark, new) == pytest.approx(expected.accuracy(expected.regraded))


def test_imported_model_joins_a_pool(cache_copy, tmp_path):
    out = tmp_path / "e"
    importers.import_model("mt_bench", importers.export_mt_bench(YI, out), "pool-member")
    data = store.load("mtbench", [YI, "pool-member"])
    assert data.n_items == 80 and (data.gt[:, 0] == data.gt[:, 1]).all()


def test_existing_model_needs_force(cache_copy, tmp_path):
    path = importers.export_mt_bench(YI, tmp_path)
    with pytest.raises(HarnessError, match=f"'{YI}' already exists"):
        importers.import_model("mt_bench", path, YI)


@pytest.mark.parametrize("name", ["", "a/b", "x,y", "../up"])
def test_bad_model_name(cache_copy, tmp_path, name):
    path = importers.export_mt_bench(YI, tmp_path)
    with pytest.raises(HarnessError, match="MODEL="):
        importers.import_model("mt_bench", path, name)


def test_missing_items_are_named(cache_copy, tmp_path):
    samples = importers.export_evalplus(YI, tmp_path, "humaneval")
    lines = samples.read_text().splitlines()
    samples.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(HarnessError, match=r"no sample for 1 items \(first: HumanEval/163\)"):
        importers.import_model("evalplus", samples, "partial")
    assert "partial" not in get_benchmark("humaneval").models(cache_copy)  # nothing half-written


def test_foreign_instruction_is_named(cache_copy, tmp_path):
    folder = importers.export_alpaca_eval(YI, tmp_path)
    ann = folder / importers.JUDGE_ALPACA / "annotations.json"
    rows = json.loads(ann.read_text())
    rows[3]["instruction"] = "not an AlpacaEval instruction"
    ann.write_text(json.dumps(rows))
    with pytest.raises(HarnessError, match=r"annotations.json: item 3: instruction is not one of"):
        importers.import_model("alpaca_eval", folder, "foreign")


def test_unknown_question_is_named(cache_copy, tmp_path):
    samples = importers.export_lm_eval(YI, tmp_path, "gsm8k")
    rows = [json.loads(l) for l in samples.read_text().splitlines()]
    rows[0]["doc"]["question"] = "How many ducks?"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(HarnessError, match="How many ducks"):
        importers.import_model("lm_eval", samples, "foreign")


def test_arena_hard_judgment_without_answers_rejected(cache_copy, tmp_path):
    out = importers.export_arena_hard(YI, tmp_path)
    (out / "model_answer" / f"{YI}.jsonl").unlink()
    with pytest.raises(HarnessError, match="model_answer"):
        importers.import_model("arena_hard", out, "no-answers")


def test_cli_import_errors_are_one_line(cache_copy, tmp_path):
    env = cli_env(tmp_path, HARNESS_DATA_DIR=str(cache_copy.parent), HARNESS_CACHE_DIR=str(config.parsed_cache_dir()))
    proc = subprocess.run([sys.executable, "-m", "harness", "import", "--format", "evalplus", "--file",
                           str(tmp_path / "absent.jsonl"), "--model", "x"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "absent.jsonl" in proc.stderr


def test_cli_import_then_pool(cache_copy, tmp_path):
    path = importers.export_mt_bench(YI, tmp_path)
    env = cli_env(tmp_path, HARNESS_DATA_DIR=str(cache_copy.parent), HARNESS_CACHE_DIR=str(config.parsed_cache_dir()))
    proc = subprocess.run([sys.executable, "-m", "harness", "import", "--format", "mt_bench", "--file", str(path),
                           "--model", "cli-import"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "cli-import" in get_benchmark("mtbench").models(cache_copy)
