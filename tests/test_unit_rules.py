"""Small rules worked out by hand: the average of mu_n, the bootstrap's resamples, intervals and seed
draws, the cv folds and what each fold trains on, the binary label threshold, and how the leaderboard
keys and merges rows. Each pins a rule whose fault the end-to-end tests would not see (found by
tests/mutation)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.core import leaderboard
from harness.core.normalize import average, normalized
from harness.core.protocols import cross_validate, cv_folds
from harness.report import bootstrap as stats
from routers.base import Router, RouterContext, RoutingData
from routers.labels import binary_labels


def test_average_leaves_out_benchmarks_without_a_span():
    """A benchmark where every candidate scores the same has no mu_n (NaN), and the average is over
    the others, as the board's Avg column says."""
    assert math.isnan(normalized(50.0, 50.0, 50.0))
    assert average([10.0, math.nan, 30.0]) == pytest.approx(20.0)
    assert math.isnan(average([math.nan]))


def test_resamples_draw_every_item_n_times_in_all():
    n, resamples = 40, 4000
    counts = stats.resample_counts("gsm8k", n, resamples, seed=0)
    assert counts.shape == (resamples, n) and (counts.sum(axis=1) == n).all()  # n draws with replacement
    # each item, the last one included, is drawn once per resample on average (+-0.1: 6 standard errors)
    np.testing.assert_allclose(counts.mean(axis=0), 1.0, atol=0.1)
    assert (counts == 0).any() and (counts >= 2).any()  # with replacement, not a permutation
    other = stats.resample_counts("math", n, resamples, seed=0)
    assert not np.array_equal(counts, other)  # each benchmark its own stream


def test_interval_is_the_central_95_percent():
    draws = np.arange(1001, dtype=float)  # percentiles of 0..1000 are the percentages x 10
    assert stats.interval(draws) == pytest.approx((25.0, 975.0))
    assert stats.interval(draws, level=90.0) == pytest.approx((50.0, 950.0))


def test_seed_draws_take_every_seed_of_the_group_with_replacement():
    settings = stats.Settings(resamples=2000, seed=0)
    one = stats.seed_resample(1, settings)
    assert one.shape == (2000, 1) and (one == 0).all()
    three = stats.seed_resample(3, settings)
    assert three.shape == (2000, 3) and set(np.unique(three)) == {0, 1, 2}
    distinct = np.array([len(set(row)) for row in three])
    # with replacement, 6 of 27 rows hold all three seeds and 3 of 27 one seed thrice
    assert np.mean(distinct == 3) == pytest.approx(6 / 27, abs=0.03)
    assert np.mean(distinct == 1) == pytest.approx(3 / 27, abs=0.03)
    np.testing.assert_array_equal(three, stats.seed_resample(3, settings))  # the same for every group: paired


def test_cv_folds_are_balanced_overall_and_per_benchmark():
    benchmarks = ["a"] * 7 + ["b"] * 7 + ["c"] * 7 + ["d"] * 3
    folds = cv_folds(benchmarks, 5, seed=0)
    sizes = np.bincount(folds, minlength=5)
    assert sizes.sum() == len(benchmarks) and sizes.max() - sizes.min() <= 1  # 24 items: 5,5,5,5,4
    for name in "abcd":
        per = np.bincount(folds[np.asarray(benchmarks) == name], minlength=5)
        assert per.max() - per.min() <= 1, name
    assert not np.array_equal(folds, cv_folds(benchmarks, 5, seed=1))  # seeded shuffles


def test_binary_labels_threshold_is_inclusive():
    """Per item min-max, label 1 where the normalized score is >= 0.8 (paper notes section 4)."""
    scores = np.array([[0.0, 7.9, 8.0, 10.0],
                       [1.0, 1.0, 1.0, 1.0],  # all tied: no positive
                       [3.0, 2.0, 2.0, 2.0]])
    expected = np.array([[0, 0, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(binary_labels(scores), expected)


def _row(router: str, profile: str, score: float, **extra) -> dict:
    return {"router": router, "pool": "paper5", "protocol": "cv", "profile": profile, "seed": 0,
            "benchmark": "gsm8k", "metric": "accuracy", "score": score, "normalized": 0.0, "n_items": 1,
            "n_dropped": 0, **extra}


def test_rows_are_keyed_by_profile_and_rerun_scores_keep_cost_columns(results_dir):
    leaderboard.update([_row("mlc", "cpu", 1.0, gflops=2.5, latency_ms=3.0), _row("mlc", "small", 2.0)])
    leaderboard.update([_row("mlc", "cpu", 4.0)])  # a re-run of the scores only
    rows = {r["profile"]: r for r in leaderboard.read_rows()}
    assert set(rows) == {"cpu", "small"}  # another profile is another row, never replaced
    assert rows["small"]["score"] == "2.0"
    assert (rows["cpu"]["score"], rows["cpu"]["gflops"], rows["cpu"]["latency_ms"]) == ("4.0", "2.5", "3.0")


def test_rows_whose_run_file_is_gone_are_left_off_the_board(results_dir, capsys):
    from harness.report import board

    (results_dir / "runs").mkdir(parents=True, exist_ok=True)
    (results_dir / "runs" / "kept.json").write_text("{}")
    leaderboard.update([_row("mlc", "cpu", 1.0, run_file="runs/kept.json"),
                        _row("knn", "cpu", 2.0, run_file="runs/deleted.json"), _row("zooter", "cpu", 3.0)])
    kept = board.backed_rows(leaderboard.read_rows())
    assert sorted(r["router"] for r in kept) == ["mlc", "zooter"]
    assert "1 run file(s) its rows name are missing (first: runs/deleted.json)" in capsys.readouterr().err


class _FitRecorder(Router):
    """Learns nothing; remembers the uids of every training set it is given."""

    learns = True
    fits: list[set[str]] = []

    def fit(self, train, valid=None) -> None:
        _FitRecorder.fits.append(set(train.uids))

    def predict(self, items) -> np.ndarray:
        return np.zeros((len(items), len(self.models)))


def test_cv_fits_each_fold_on_exactly_the_other_folds(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))  # no cached folds: every fold fits
    benchmarks = ["a"] * 9 + ["b"] * 6
    data = RoutingData(uids=[f"{b}/{i}" for i, b in enumerate(benchmarks)], benchmarks=benchmarks,
                       prompts=[f"p{i}" for i in range(len(benchmarks))], models=["x", "y"],
                       scores=np.random.default_rng(0).random((len(benchmarks), 2)))
    _FitRecorder.fits = []
    _, folds, _ = cross_validate(lambda: _FitRecorder(RouterContext(models=["x", "y"])), "fit_recorder", data,
                                 3, 0, progress=False)
    assert len(_FitRecorder.fits) == 3
    for fold, seen in enumerate(_FitRecorder.fits):
        assert seen == {u for u, f in zip(data.uids, folds) if f != fold}, fold


def test_a_run_whose_training_was_flagged_is_marked_on_the_board(results_dir, capsys):
    from harness.report import board

    (results_dir / "runs").mkdir(parents=True, exist_ok=True)
    (results_dir / "runs" / "flagged.json").write_text('{"flags": ["fold 0: response loss never fell"]}')
    (results_dir / "runs" / "clean.json").write_text('{"flags": []}')
    leaderboard.update([_row("lookahead_mlm", "cpu", 1.0, run_file="runs/flagged.json"),
                        _row("mlc", "cpu", 2.0, run_file="runs/clean.json")])
    text = board.render()
    assert f"| lookahead_mlm {board.FLAG} | cpu |" in text and "| mlc | cpu |" in text
    assert board.FLAG_NOTE in text
