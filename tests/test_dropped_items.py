"""Items not every candidate has are dropped from the pool and counted (`n_dropped`).

The real cache has one such item (Llama-3.1-8B lacks an Arena-Hard question: neither answered nor
judged); test_pinned_scores.py checks paper5's rows. Here a candidate of a symlinked copy of the
cache has a question judged but not answered (or answered but not judged): the item must leave the
pool, and the run must say so in its rows and run file.
"""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from harness.api import EvalConfig, evaluate
from harness.core import config, store
from harness.core.io import read_jsonl

YI, PHI = "Yi-1.5-34B-Chat", "Phi-3-medium-4k-instruct"
NEW = "Half-Answered"


@pytest.fixture
def arena_copy(tmp_path, monkeypatch):
    """The cache as symlinks, in its own data dir and parsed-cache dir."""
    src = config.cache_root()
    dst = tmp_path / "data" / "compressed_data"
    for path in (src / "test" / "ArenaHard").rglob("*"):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    monkeypatch.setenv("HARNESS_DATA_DIR", str(dst.parent))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    store.clear_memo()
    yield dst / "test" / "ArenaHard"
    store.clear_memo()


def _write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))


def _new_candidate(arena: Path, lacks: str) -> str:
    """Yi's answers and judgments under a new name, one question short of ``lacks``; returns its id."""
    judgments = read_jsonl(arena / "model_judgment" / f"{YI}.jsonl.gz")
    answers = read_jsonl(arena / "model_answer" / f"{YI}.jsonl.gz")
    missing = str(answers[7]["question_id"])
    if lacks == "answer":
        answers = [r for r in answers if str(r["question_id"]) != missing]
    else:
        judgments = [r for r in judgments if str(r["question_id"]) != missing]
    _write_jsonl_gz(arena / "model_judgment" / f"{NEW}.jsonl.gz", judgments)
    _write_jsonl_gz(arena / "model_answer" / f"{NEW}.jsonl.gz", answers)
    return missing


@pytest.mark.parametrize("lacks", ["answer", "judgment"])
def test_item_a_candidate_lacks_is_dropped_and_counted(arena_copy, results_dir, lacks):
    missing = _new_candidate(arena_copy, lacks)
    data = store.load("arenahard", [YI, PHI, NEW])
    assert data.n_items == 499 and missing not in data.ids
    assert data.dropped == {missing: f"no answer from {NEW}"}
    assert all(data.answers[NEW][i] for i in range(data.n_items))  # no empty stand-in answers

    (result,) = evaluate(EvalConfig(router="oracle", pool=f"{YI},{PHI},{NEW}", benchmarks=["arenahard"]))
    assert (result.n_items, result.n_dropped) == (499, 1)
    with open(results_dir / "leaderboard.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["n_items"], row["n_dropped"]) == ("499", "1")
    run = json.loads((results_dir / row["run_file"]).read_text())
    assert run["benchmarks"]["arenahard"]["dropped"] == {missing: f"no answer from {NEW}"}
    assert missing not in run["benchmarks"]["arenahard"]["ids"]
