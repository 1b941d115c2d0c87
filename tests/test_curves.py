"""Issue 22: cost-quality curves (harness/report/curves.py, curves_pairs.py): routing by score - λ·cost,
AIQ and RouteLLM's APGR / CPT on tiny cases computed by hand, scores from a fold cache, and a whole
curve file of a real (noisy-oracle) router on the cache."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.report import curves
from harness.report.curves import aiq, apgr, choose, cpt, lambda_grid, nondecreasing_hull, pgr, switch_points


# ------------------------------------------------------------------ routing by score - λ·cost, by hand

SCORES = np.array([[0.9, 0.5], [0.6, 0.5], [0.2, 0.3]])  # 3 items, candidates A (dear) and B (cheap)
COSTS = np.array([[0.4, 0.1], [0.4, 0.1], [0.4, 0.1]])


def test_choose_by_hand():
    # item 0 switches to B when 0.9 - 0.4λ < 0.5 - 0.1λ, λ > 4/3; item 1 when λ > 1/3; item 2 is B always
    assert choose(SCORES, COSTS, 0.0).tolist() == [0, 0, 1]
    assert choose(SCORES, COSTS, 1.0).tolist() == [0, 1, 1]
    assert choose(SCORES, COSTS, 2.0).tolist() == [1, 1, 1]
    assert choose(SCORES, COSTS, math.inf).tolist() == [1, 1, 1]
    assert sorted(switch_points(SCORES, COSTS).round(6).tolist()) == [round(1 / 3, 6), round(4 / 3, 6)]
    grid = lambda_grid(switch_points(SCORES, COSTS), 2)
    assert grid[0] == 0.0 and math.isinf(grid[-1]) and grid[1:-1] == pytest.approx([1 / 3, 4 / 3])


def test_ties_go_to_the_cheaper_candidate_when_asked():
    scores, costs = np.array([[1.0, 1.0, 0.0]]), np.array([[0.3, 0.2, 0.1]])
    assert choose(scores, costs, 0.0).tolist() == [0]  # argmax: first in pool order
    assert choose(scores, costs, 0.0, cheaper_ties=True).tolist() == [1]  # cheapest among the best
    assert choose(scores, costs, math.inf).tolist() == [2]


# ------------------------------------------------------------------ AIQ (RouterBench), by hand

def test_aiq_by_hand():
    # points A(1,10) B(2,40) C(3,30) D(4,50) E(4.5,45) F(2,20): C lies under the chord B-D (45 at cost 3), F under
    # B (same cost), E after the best point D (the curve stays at 50). Hull A-B-D, then flat.
    cost = np.array([1, 2, 3, 4, 4.5, 2.0])
    quality = np.array([10, 40, 30, 50, 45, 20.0])
    assert nondecreasing_hull(cost, quality).tolist() == [[1, 10], [2, 40], [4, 50]]
    # over [1, 5]: (10+40)/2*1 + (40+50)/2*2 + 50*1 = 25 + 90 + 50 = 165; / (5 - 1) = 41.25
    assert aiq(cost, quality, 1.0, 5.0) == pytest.approx(41.25)
    # over [1, 3]: 25 + (40+45)/2*1 = 67.5; / 2 = 33.75 (the hull interpolated at cost 3)
    assert aiq(cost, quality, 1.0, 3.0) == pytest.approx(33.75)


def test_aiq_undefined_for_a_single_point_or_a_curve_above_the_cheapest_cost():
    assert math.isnan(aiq(np.array([2.0]), np.array([30.0]), 1.0, 5.0))
    assert math.isnan(aiq(np.array([2.0, 3.0]), np.array([30.0, 40.0]), 1.0, 5.0))


# ------------------------------------------------------------------ PGR / APGR / CPT (RouteLLM), by hand

def test_apgr_and_cpt_by_hand():
    shares = np.array([0.0, 0.5, 1.0])
    gaps = pgr(np.array([10.0, 18.0, 20.0]), 20.0, 10.0)  # weak 10, strong 20
    assert gaps.tolist() == pytest.approx([0.0, 0.8, 1.0])
    # trapezoids: 0.5 * (0 + 0.8) / 2 + 0.5 * (0.8 + 1) / 2 = 0.2 + 0.45
    assert apgr(shares, gaps) == pytest.approx(0.65)
    assert cpt(shares, gaps, 0.5) == pytest.approx(0.5 * 0.5 / 0.8)  # on the first segment: 0.3125
    assert cpt(shares, gaps, 0.8) == pytest.approx(0.5)
    assert np.isnan(pgr(np.array([1.0]), 10.0, 10.0)).all()  # strong not better: undefined


def test_split_choice_sends_the_top_margins_to_the_strong_model():
    from harness.report.curves_pairs import split_choice

    margin = np.array([0.1, 0.9, -0.3, 0.5])
    assert split_choice(margin, 0.5, 3, 0).tolist() == [0, 3, 0, 3]
    assert split_choice(margin, 0.0, 3, 0).tolist() == [0, 0, 0, 0]
    assert split_choice(margin, 1.0, 3, 0).tolist() == [3, 3, 3, 3]


# ------------------------------------------------------------------ scores recovered from a fold cache

def test_scores_from_the_fold_cache(tmp_path, monkeypatch):
    from harness.core.protocols import cv_folds

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    labels = ["a"] * 6 + ["b"] * 4
    folds = cv_folds(labels, 2, 0)
    scores = np.random.default_rng(0).random((10, 3))
    (tmp_path / "folds").mkdir()
    for k in (0, 1):
        np.save(tmp_path / "folds" / f"key{k}.npy", scores[folds == k])
    choice = np.argmax(scores, axis=1)
    run = {"protocol": "cv", "seed": 0, "models": ["x", "y", "z"],
           "routing": {"folds": 2, "training": [{"fold": 0, "cache_key": "key0"}, {"fold": 1, "cache_key": "key1"}]},
           "benchmarks": {"a": {"ids": list(range(6)), "choice": choice[:6].tolist()},
                          "b": {"ids": list(range(4)), "choice": choice[6:].tolist()}}}
    found, source = curves.run_scores(run)
    assert source == "fold cache"
    assert np.array_equal(found["a"], scores[:6]) and np.array_equal(found["b"], scores[6:])
    run["benchmarks"]["b"]["choice"][0] = (choice[6] + 1) % 3  # a cache that is not this run's
    assert curves.run_scores(run)[0] is None
    (tmp_path / "folds" / "key1.npy").unlink()
    found, source = curves.run_scores(run)
    assert found is None and source.startswith("choices only")


# ------------------------------------------------------------------ a whole curve file on the real cache

def _noisy_oracle_run():
    from harness.api import evaluate_router
    from routers.base import Router

    class NoisyOracle22(Router):
        """The ground truth plus noise: a router whose scores mean something."""
        uses_test_labels = True

        def predict(self, items):
            rng = np.random.default_rng(0)
            return np.asarray(items.scores, float) + rng.normal(0.0, 0.6, (len(items), len(self.models)))

    return evaluate_router(NoisyOracle22, benchmarks="humaneval,mbpp", resamples=100).run


def test_curve_file_of_a_router_with_scores(results_dir):
    from harness.report.bootstrap import Settings
    from harness.report.curves_pairs import build

    run = _noisy_oracle_run()
    assert all(len(b["scores"]) == len(b["ids"]) for b in run["benchmarks"].values())  # stored by the runner
    price = np.array([0.8, 0.3, 0.3, 0.2, 0.1])  # per item; the last candidate is the cheapest
    costs = {b: np.tile(price, (len(e["ids"]), 1)) for b, e in run["benchmarks"].items()}
    data = build(run, costs, "paper", Settings(resamples=100))
    assert data["scores"] == "run file"
    for name, bench in data["benchmarks"].items():
        first, last = bench["router"][0], bench["router"][-1]
        assert first["mu_o"] == pytest.approx(run["benchmarks"][name]["score"])  # λ = 0: the run's own choice
        cheapest = bench["single"][-1]
        assert (last["usd_per_item"], last["mu_o"]) == pytest.approx((cheapest["usd_per_item"], cheapest["mu_o"]))
        assert bench["oracle"][0]["mu_n"] == pytest.approx(100.0)  # cheapest-correct keeps the oracle's quality
        assert bench["oracle"][0]["usd_per_item"] <= bench["router"][0]["usd_per_item"] + 1e-12
        assert bench["aiq"]["router"] <= bench["aiq"]["oracle"] + 1e-9
    sw = data["strong_weak"]
    assert sw["weak"] == run["models"][-1]  # cheapest
    for name, entry in sw["benchmarks"].items():
        assert entry["mu_o"][0] == pytest.approx(entry["weak_mu_o"]) and entry["mu_o"][-1] == pytest.approx(entry["strong_mu_o"])
        if "apgr" in entry:
            assert entry["apgr_ci"][0] <= entry["apgr"] <= entry["apgr_ci"][1]


def test_a_router_with_choices_only_gets_one_point(results_dir):
    from harness.report.curves import build_curves

    run = _noisy_oracle_run()
    for bench in run["benchmarks"].values():
        del bench["scores"]
    costs = {b: np.ones((len(e["ids"]), 5)) for b, e in run["benchmarks"].items()}
    data = build_curves(run, costs, "paper")
    assert data["scores"].startswith("choices only")
    assert all(len(b["router"]) == 1 and math.isnan(b["aiq"]["router"]) for b in data["benchmarks"].values())
