"""Bad input: one line naming the file / model / item / option, exit code 2, leaderboard untouched."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import read_json
from tests.conftest import cli_env

BOARD = "router,pool,protocol,profile,benchmark\nkeep,paper5,none,-,gsm8k\n"


@pytest.fixture
def data_copy(tmp_path):
    """A copy of the cache made of symlinks, so a test can replace single files."""
    src = config.cache_root()
    dst = tmp_path / "data" / "compressed_data"
    for path in src.rglob("*"):
        if path.is_file() and path.name != ".verified.json":
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    return dst


def run_cli(results: Path, data: Path | None, *args: str) -> subprocess.CompletedProcess:
    extra = {}
    if data is not None:
        extra = {"HARNESS_DATA_DIR": str(data.parent), "HARNESS_CACHE_DIR": str(data.parent / "cache")}
    results.mkdir(parents=True, exist_ok=True)
    (results / "leaderboard.csv").write_text(BOARD)
    return subprocess.run([sys.executable, "-m", "harness", *args], env=cli_env(results, **extra),
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, results: Path, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert (results / "leaderboard.csv").read_text() == BOARD  # untouched


def _replace(path: Path, payload: bytes) -> None:
    path.unlink()
    path.write_bytes(payload)


def test_unknown_router(results_dir):
    proc = run_cli(results_dir, None, "eval", "--router", "knnn", "--benchmarks", "gsm8k")
    assert_one_line_error(proc, results_dir, "unknown router 'knnn'")


def test_pool_model_absent_from_benchmark(results_dir):
    proc = run_cli(results_dir, None, "eval", "--router", "oracle", "--pool",
                   "Yi-1.5-34B-Chat,gemma-2-9b-it", "--benchmarks", "arenahard")
    assert_one_line_error(proc, results_dir, "gemma-2-9b-it", "arenahard")


def test_pool_of_one_model(results_dir):
    proc = run_cli(results_dir, None, "eval", "--router", "oracle", "--pool", "Yi-1.5-34B-Chat")
    assert_one_line_error(proc, results_dir, "at least two models")


def test_unknown_benchmark_and_protocol(results_dir):
    proc = run_cli(results_dir, None, "eval", "--router", "oracle", "--benchmarks", "gsm9k")
    assert_one_line_error(proc, results_dir, "unknown benchmark 'gsm9k'", "gsm8k")
    proc = run_cli(results_dir, None, "eval", "--router", "oracle", "--protocol", "holdout")
    assert_one_line_error(proc, results_dir, "unknown protocol 'holdout'")


def test_manifest_mismatch(results_dir, data_copy):
    path = data_copy / "test/GSM8k/Yi-1.5-34B-Chat.json.gz"
    payload = json.loads(gzip.decompress(path.read_bytes()))
    payload["details"]["0"]["correct"] = not payload["details"]["0"]["correct"]
    _replace(path, gzip.compress(json.dumps(payload).encode()))
    proc = run_cli(results_dir, data_copy, "eval", "--router", "oracle", "--benchmarks", "gsm8k")
    assert_one_line_error(proc, results_dir, str(path), "sha256 mismatch")


def _new_candidate(data_copy: Path, name: str, payload: bytes) -> Path:
    """An extra candidate the manifest does not cover (as an imported model would be)."""
    path = data_copy / "test/AlpacaEval" / name / "weighted_alpaca_eval_gpt4_turbo/annotations.json.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    return path


def _alpaca_annotations(data_copy: Path) -> list[dict]:
    source = data_copy / "test/AlpacaEval/Yi-1.5-34B-Chat/weighted_alpaca_eval_gpt4_turbo/annotations.json.gz"
    return json.loads(gzip.decompress(source.read_bytes()))


@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_damaged_gzip(results_dir, data_copy, damage):
    good = gzip.compress(json.dumps(_alpaca_annotations(data_copy)).encode())
    payload = b"\x1f\x8b\x08garbage" + good[10:200] if damage == "corrupted" else good[: len(good) // 2]
    path = _new_candidate(data_copy, "Broken-Model", payload)
    proc = run_cli(results_dir, data_copy, "eval", "--router", "oracle", "--benchmarks", "alpacaeval",
                   "--pool", "Yi-1.5-34B-Chat,Broken-Model")
    assert_one_line_error(proc, results_dir, str(path), "corrupted or truncated gzip")


def test_json_missing_field(results_dir, data_copy):
    rows = _alpaca_annotations(data_copy)
    del rows[3]["preference"]
    path = _new_candidate(data_copy, "Gappy-Model", gzip.compress(json.dumps(rows).encode()))
    proc = run_cli(results_dir, data_copy, "eval", "--router", "oracle", "--benchmarks", "alpacaeval",
                   "--pool", "Yi-1.5-34B-Chat,Gappy-Model")
    assert_one_line_error(proc, results_dir, str(path), "item 3", "'preference'")


def test_mismatched_item_ids(results_dir, data_copy):
    source = data_copy / "test/GSM8k/Yi-1.5-34B-Chat.json.gz"
    payload = json.loads(gzip.decompress(source.read_bytes()))
    payload["details"]["5"]["prompt"] = "[{'role': 'HUMAN', 'prompt': 'a different question'}]"
    path = data_copy / "test/GSM8k/Shuffled-Model.json.gz"
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    proc = run_cli(results_dir, data_copy, "eval", "--router", "oracle", "--benchmarks", "gsm8k",
                   "--pool", "Yi-1.5-34B-Chat,Shuffled-Model")
    assert_one_line_error(proc, results_dir, str(path), "item 5", "mismatched item ids")


def test_reader_names_file_for_invalid_json(tmp_path):
    path = tmp_path / "x.json.gz"
    path.write_bytes(gzip.compress(b'{"a": [1, 2'))
    with pytest.raises(HarnessError, match=r"x\.json\.gz: invalid JSON"):
        read_json(path)


def test_router_module_missing(results_dir):
    proc = run_cli(results_dir, None, "eval", "--router", "oracle", "--router-module", "/nonexistent/r.py")
    assert_one_line_error(proc, results_dir, "/nonexistent/r.py")
