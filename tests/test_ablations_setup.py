"""results/ablations.md does not state a verdict that its runs' setup explains (issue 20): a
separate-prediction row trained with MiniLM's [unused] MID rows as shipped is marked an artefact of
that setup, by the renderer, from the router config its run files record; re-run with MID rows drawn
apart, it gets its verdict again."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core import runner
from harness.experiments import ablations
from harness.report.bootstrap import Settings
from tests.stats_fixtures import NOISY, SEEDS, build_runs

OLD = {"family": "LookaheadMLM", "mid_tokens": "unused", "span_positions": "restart", "separate": False}
NOW = {**OLD, "mid_init": "sampled", "span_positions": "straight"}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return build_runs(tmp_path_factory.mktemp("ablations_setup"))


def _file(source: Path, dest: Path, src: str, router: str, seed: int, cfg: dict) -> None:
    raw = json.loads((source / "runs" / src).read_text())
    row = dict(raw, router=router, protocol="cv", profile="cpu", seed=seed, router_config=cfg)
    path = dest / "runs" / runner.run_file_name(router, "paper5", "cv", "cpu", seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row))


def _table(source: Path, results: Path, separate_cfg: dict) -> str:
    """The full method = the noisy router; the separate row = the fixed Qwen-Coder router (far worse)."""
    for seed in SEEDS:
        _file(source, results, runner.run_file_name(NOISY, "paper5", "cv", "cpu", seed), "lookahead_mlm", seed, OLD)
        _file(source, results, runner.run_file_name("fixed:Qwen2.5-Coder-7B-Instruct", "paper5", "none", "-", 0),
              "lookahead_mlm_separate", seed, separate_cfg)
    s = ablations.AblationSettings(profile="cpu", train=False, bootstrap=Settings(resamples=200, seed=1),
                                   routers=("lookahead_mlm", "lookahead_mlm_separate"))
    return ablations.run(s).read_text()


def _claim(text: str) -> str:
    return next(line for line in text.splitlines() if "**joint prediction beats separate prediction**" in line)


def test_separate_row_with_unused_mid_rows_is_marked_an_artefact(source, results_dir):
    text = _table(source, results_dir, {**OLD, "separate": True})
    claim = _claim(text)
    assert "artefact of the setup" in claim and "supported here" not in claim
    row = next(line for line in text.splitlines() if line.startswith("| lookahead_mlm_separate |"))
    assert "setup artefact" in row
    assert "## Setup of these runs" in text and "[unused] rows as shipped" in text
    assert "span_positions=restart" in text


def test_separate_row_with_mid_rows_drawn_apart_gets_its_verdict(source, results_dir):
    claim = _claim(_table(source, results_dir, {**NOW, "separate": True}))
    assert "supported here" in claim and "artefact" not in claim


def test_rows_without_a_recorded_setup_are_not_marked():
    class FakeRun:
        raw = {"router_config": {}}

    assert ablations.setup_artefact([FakeRun()]) is None
    assert ablations.setup_notes({"lookahead_mlm_separate": [FakeRun()]}) == []
