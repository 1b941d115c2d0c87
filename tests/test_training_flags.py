"""The run summary says when a Lookahead response objective did not train (issue 20): against the
loss of predicting each response token from its position alone (from the training items), and the
fixed threshold; the flags reach the run file's summary, the board's mark and the ablation table."""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.core.runner import fold_flags
from harness.experiments import ablations
from harness.report import board
from routers.neural import TorchRouter, position_frequency_loss
from routers.trainer import Example


def _examples(responses: list[list[list[int]]]) -> list[Example]:
    return [Example(uid=str(i), features={"responses": r}) for i, r in enumerate(responses)]


def test_position_frequency_loss_is_the_conditional_entropy():
    # position 0 always token 5 (0 nats); position 1 tokens 1 and 2 equally often (ln 2 nats)
    ex = _examples([[[5, 1]], [[5, 2]], [[5, 1], [5, 2]]])
    assert position_frequency_loss(ex) == pytest.approx(4 * math.log(2) / 8)
    assert position_frequency_loss(_examples([[[5]], [[5]]])) == 0.0
    assert position_frequency_loss([Example(uid="a", features={"query": [1]})]) is None


class _Stub:
    """Just what TorchRouter.training_flags reads."""

    full_mask_loss_min = TorchRouter.full_mask_loss_min

    def __init__(self, lows: list[float], freq: float | None, lam: float = 0.2, limit: float | None = 5.0,
                 full_from: float = 0.0):
        summary = {"response_loss_min": min(lows)}
        self.history = SimpleNamespace(summary=lambda: summary, parts={"response": lows})
        self.settings = {"lam": lam, "response_loss_threshold": limit}
        self.frequency_loss = freq
        self.full_from = full_from

    def full_mask_progress(self) -> float:
        return self.full_from


HIGH, LOW = [9.0] + [5.6] * 10, [9.0] + [4.0] * 10  # lowest 10-step means 5.6 and 4.0


@pytest.mark.parametrize("lows, freq, limit, lam, expect", [
    (HIGH, 5.07, 5.0, 0.2, ["never fell below 5.0", "from its position alone"]),
    (HIGH, 5.9, 5.0, 0.2, ["never fell below 5.0"]),     # beats frequencies, above the fixed bar
    (LOW, 5.07, 5.0, 0.2, []),                          # trained
    (HIGH, 5.07, None, 0.2, ["from its position alone"]),  # no fixed bar set
    (HIGH, 5.07, 5.0, 0.0, []),                          # lam = 0: no response objective
])
def test_training_flags(lows, freq, limit, lam, expect):
    flags = TorchRouter.training_flags(_Stub(lows, freq, lam, limit))
    assert len(flags) == len(expect) and all(e in f for e, f in zip(expect, flags))


def test_the_position_check_reads_only_the_steps_with_every_position_masked():
    """A curriculum masks the late, hard positions first with the earlier tokens visible: those steps are
    not like the position-only predictor's, so only the steps from full masking on are compared."""
    lows = [4.0] * 10 + [6.0] * 30  # low while few positions were masked, high once all are
    assert TorchRouter.training_flags(_Stub(lows, 5.0, limit=None, full_from=0.25))
    assert TorchRouter.training_flags(_Stub(lows, 5.0, limit=None, full_from=0.0)) == []
    assert _Stub(lows, 5.0, full_from=0.25).full_mask_loss_min() == pytest.approx(6.0)


def test_lookahead_mlm_reaches_full_masking_at_the_curriculums_end():
    from routers import build_router
    from routers.base import RouterContext

    def progress(**options):
        return build_router("lookahead_mlm", RouterContext(models=["a", "b"], profile="smoke", seed=0,
                                                           options=options)).full_mask_progress()

    assert progress() == pytest.approx(0.4) and progress(curriculum_alpha=0.2) == pytest.approx(0.2)
    assert progress(curriculum=False) == 0.0 and progress(lam=0.0) == 0.0


def test_fold_flags_summarise_every_fold():
    info = {"training": [{"fold": 0, "flags": []}, {"fold": 1, "flags": ["a", "b"]}, {"flags": ["c"]}]}
    assert fold_flags(info) == ["fold 2/3: a", "fold 2/3: b", "fold 3/3: c"]
    assert fold_flags({"training": [{"fold": "math", "flags": ["d"]}]}) == ["fold math: d"]
    assert fold_flags({}) == []


def test_the_board_marks_a_flagged_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(tmp_path))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "new.json").write_text(json.dumps({"flags": ["fold 0: x"]}))
    (tmp_path / "runs" / "old.json").write_text(json.dumps({"routing": {"training": [{"flags": ["y"]}]}}))
    (tmp_path / "runs" / "clean.json").write_text(json.dumps({"flags": [], "routing": {"training": [{"flags": []}]}}))
    assert board.run_flags("runs/new.json") == ["fold 0: x"]
    assert board.run_flags("runs/old.json") == ["y"]
    assert board.run_flags("runs/clean.json") == [] and board.run_flags("runs/absent.json") == []


def _run(lows: list[float], bases: list[float], curve: list[float] | None = None):
    training = [{"fold": i, "response_loss_min_full_mask": low, "response_frequency_loss": base}
                for i, (low, base) in enumerate(zip(lows, bases))]
    raw = {"router_config": {"family": "LookaheadMLM", "lam": 0.2, "curriculum": True, "curriculum_alpha": 0.4},
           "routing": {"training": training}}
    return SimpleNamespace(raw=raw, path=Path("x"))


def test_the_ablation_table_says_when_the_look_ahead_did_not_train():
    assert ablations.untrained_note([_run([3.0, 3.1], [5.0, 5.0])]) is None
    runs = [_run([5.6, 4.9], [5.07, 5.1]), _run([5.7], [5.1])]
    assert ablations.untrained_folds(runs) == (2, 3, [5.6, 4.9, 5.7], [5.07, 5.1, 5.1])
    note = ablations.untrained_note(runs)
    assert note.startswith("In 2 of 3 folds") and "(4.90–5.70 nats)" in note and "(5.07–5.10)" in note


def test_old_runs_are_judged_on_the_curve_past_the_curriculum():
    """A run written before `response_loss_min_full_mask` existed: the lowest tenth of its loss curve from
    progress curriculum_alpha on (points 4..9 of 10 at alpha 0.4), not its overall minimum."""
    from harness.experiments import frequency_baseline as fb

    run = _run([5.0], [5.0]).raw
    fold = run["routing"]["training"][0]
    del fold["response_loss_min_full_mask"]
    fold["response_loss_curve"] = [9.0, 7.0, 5.5, 4.9, 6.0, 5.9, 5.8, 5.75, 5.8, 5.9]
    assert fb.full_mask_lows(run) == [5.75]
    assert fb.untrained(run)[:2] == (1, 1)
    run["router_config"]["curriculum"] = False
    assert fb.full_mask_lows(run) == [4.9] and fb.untrained(run)[:2] == (0, 1)
    assert fb.untrained({"routing": {"training": [{"fold": 0}]}}) == (0, 0, [], [])


def test_the_baseline_recomputed_for_an_old_run_is_the_one_its_training_recorded(results_dir, tmp_path,
                                                                                 monkeypatch):
    """A run written before the trainer recorded `response_frequency_loss` gets the same figures
    recomputed from its recorded settings (same folds, training split and tokenizer)."""
    from harness.core import runner
    from harness.experiments import frequency_baseline as fb

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    cfg = runner.EvalConfig(router="lookahead_mlm", benchmarks=["humaneval", "mbpp"], profile="smoke", folds=2)
    runner.evaluate(cfg)
    run = json.loads((results_dir / "runs" / runner.run_file_name("lookahead_mlm", "paper5", "cv", "smoke", 0))
                     .read_text())
    recorded = [t["response_frequency_loss"] for t in run["routing"]["training"]]
    assert len(recorded) == 2 and all(v > 0 for v in recorded)
    for t in run["routing"]["training"]:
        del t["response_frequency_loss"]  # as a run of before
    assert fb.fold_baselines(run) == pytest.approx(recorded, abs=1e-4)
    assert list((tmp_path / "cache" / "diagnostics").glob("frequency_baseline__*.json"))  # cached
    assert fb.fold_baselines({**run, "router_config": {"family": "MLC"}}) is None


def test_the_response_objective_probe_prints_its_figures(capsys):
    from harness.experiments import response_objective as ro

    assert ro._option_sets("a=1;a=2,b=3") == [{"a": "1"}, {"a": "2", "b": "3"}]
    ro.probe("lookahead_mlm", "smoke", [{}])
    out = capsys.readouterr().out
    first, lowest, alone = (float(out.split(key)[1].split(",")[0].split(";")[0])
                            for key in ("first ", "lowest ", "position alone "))
    assert first >= lowest > 0 and alone > 0
