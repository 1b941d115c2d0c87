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


def test_diagnostics_list_every_seed_of_the_affected_rows(tmp_path, monkeypatch):
    """results/diagnostics.md's affected-rows table has a line per seed run (seed 0 even when absent),
    with the setup its run file records."""
    from harness.experiments import diagnostics

    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(tmp_path))
    runs = tmp_path / "runs"
    runs.mkdir()
    for seed, cfg in ((1, OLD), (2, NOW)):
        name = runner.run_file_name("lookahead_mlm_nolm", "paper5", "cv", "small", seed)
        (runs / name).write_text(json.dumps({"router_config": {**cfg, "checkpoint": "last"}, "seconds": 120,
                                             "provenance": {"created": "2026-12-01 23:00"},
                                             "average_normalized": 30.0 + seed}))
    folds = [{"response_loss_min_full_mask": 5.61, "response_frequency_loss": 5.07},
             {"response_loss_min_full_mask": 4.9, "response_frequency_loss": 5.1}]
    name = runner.run_file_name("lookahead_mlm", "paper5", "cv", "small", 0)
    (runs / name).write_text(json.dumps({"router_config": NOW, "routing": {"training": folds}}))
    line = next(line for line in diagnostics.rerun_lines() if name in line)
    assert line.endswith("| 4.90–5.61 | 5.07–5.10 | 1 of 2 |")
    lines = [line for line in diagnostics.rerun_lines() if "lookahead_mlm_nolm__" in line]
    assert [line.split(" | ")[0] for line in lines] == [
        f"| {runner.run_file_name('lookahead_mlm_nolm', 'paper5', 'cv', 'small', s)}" for s in (0, 1, 2)]
    assert "not run" in lines[0]
    assert "old (mid_init=asis, span_positions=restart)" in lines[1] and "| 2.0 | 31.0 |" in lines[1]
    assert "| fixed | fp32 | 2026-12-01 | 2.0 | 32.0 | – | – | – |" in lines[2]


def test_diagnostics_render_from_an_empty_cache(tmp_path, monkeypatch, capsys):
    """`make diagnostics` renders results/diagnostics.md (cases not measured yet say so) through main()."""
    from harness.experiments import diagnostics

    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    assert diagnostics.main(["--only=knn", "--setups=nwo"]) == 2
    assert capsys.readouterr().err.strip() == "error: diagnostics: --setups=nwo: use now, before or both (now,before)"
    assert diagnostics.main(["--only=knn", "--setups="]) == 0  # nothing measured, only rendered
    text = (tmp_path / "results" / "diagnostics.md").read_text()
    assert "## The affected rows" in text and "lookahead_mlm__paper5__cv__cpu__seed0.json | not run" in text
