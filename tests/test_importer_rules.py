"""Importers follow the tools' own item identities, not file order: alpaca_eval annotations are
placed by instruction (a tool may write them in any order), and evalplus grades the *first* sample
of each task (pass@1) when a file holds several. Runs on the symlinked cache copy of
test_importers.py, so the shared data folder never changes."""
from __future__ import annotations

import json

import pytest

from harness.grading import importers
from tests.test_importers import YI, cache_copy, metric  # noqa: F401  (cache_copy: a fixture)


def test_alpaca_eval_annotations_in_another_order_give_the_same_metric(cache_copy, tmp_path):  # noqa: F811
    folder = importers.export_alpaca_eval(YI, tmp_path)
    ann = folder / importers.JUDGE_ALPACA / "annotations.json"
    rows = json.loads(ann.read_text())
    ann.write_text(json.dumps(rows[::-1]))  # last instruction first
    importers.import_model("alpaca_eval", folder, "reversed-alpaca")
    assert metric("alpacaeval", "reversed-alpaca") == pytest.approx(metric("alpacaeval", YI), abs=1e-9)


def test_evalplus_grades_the_first_sample_of_each_task(cache_copy, tmp_path):  # noqa: F811
    samples = importers.export_evalplus(YI, tmp_path, "humaneval")
    lines = samples.read_text().splitlines()
    broken = [json.dumps({"task_id": json.loads(line)["task_id"], "solution": "raise SystemExit(1)\n"})
              for line in lines]
    samples.write_text("\n".join(lines + broken) + "\n")  # a second, failing sample per task
    importers.import_model("evalplus", samples, "first-samples")
    assert metric("humaneval", "first-samples") == pytest.approx(metric("humaneval", YI))
