"""Every learned router and Lookahead variant can learn (issue 20).

Known answer: real chat, math and code items from the cache, labelled chat → Yi, math → InternLM,
code → Qwen-Coder (harness/experiments/known_answer.py). Each router, in the setup its runs use
(profile ``small``, the settings of harness/experiments/diagnostics.py), trains a few dozen steps on
144 items and must route >= 0.85 of 72 held-out items to their target. The setups that collapsed on
the leaderboard fail here: Lookahead-CLM on 4 of SmolLM2's 30 layers and the separate-prediction
variant with MiniLM's near-identical [unused] MID rows (results/diagnostics.md has both accuracies).
Overfit: trained on 64 items labelled with their real best candidate, a router must route >= 0.9 of
those same items there. The CLM is the slowest (30 layers): its tests are separate
(``-k "not clm"`` leaves them out).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from harness.experiments import diagnostics as dx
from harness.experiments import known_answer as ka


@pytest.fixture(scope="module")
def data():
    return ka.task_data()


def _check_known_answer(name: str, data) -> None:
    c = dx.case(name)
    result = ka.known_answer(c.router, c.profile, dx.case_options(c, "now"), data)
    shares = dict(zip(data.train.models, result["routing_share"]))
    assert result["accuracy"] >= ka.PASS, f"{name}: known-answer accuracy {result['accuracy']:.2f}, shares {shares}"


@pytest.mark.parametrize("name", [c.name for c in dx.CASES if c.router != "lookahead_clm"])
def test_known_answer(data, name):
    _check_known_answer(name, data)


@pytest.mark.parametrize("name", ["mlc", "lookahead_mlm"])
def test_known_answer_under_bf16_autocast(data, name):
    """The diagnostics measure fp32; the small and cpu profiles train under bf16 autocast by default."""
    c = dx.case(name)
    result = ka.known_answer(c.router, c.profile, {**dx.case_options(c, "now"), "precision": "bf16"}, data)
    assert result["accuracy"] >= ka.PASS, (name, result["accuracy"])


# All 30 of SmolLM2's layers on a CPU: over ten minutes each on the 2-core machine, too slow for every
# `make test`; run them with HARNESS_SLOW_TESTS=1 (or `make diagnostics`, which reports the same check).
slow = pytest.mark.skipif(not os.environ.get("HARNESS_SLOW_TESTS"), reason="slow (SmolLM2, 30 layers): HARNESS_SLOW_TESTS=1")


@slow
def test_known_answer_lookahead_clm(data):
    _check_known_answer("lookahead_clm", data)


# The setups behind the two collapses fail the same check (diagnostics measured 0.75 and 0.82): the CLM
# on its first 4 layers, the separate layout with MiniLM's [unused] MID rows as shipped
@slow
@pytest.mark.parametrize("name", ["lookahead_clm", "lookahead_mlm_separate"])
def test_the_collapsed_setups_fail_the_known_answer_check(data, name):
    c = dx.case(name)
    result = ka.known_answer(c.router, c.profile, dx.case_options(c, "before"), data)
    assert result["accuracy"] < ka.PASS, (name, result["accuracy"])


def test_known_answer_set_is_balanced_and_labelled_by_task(data):
    assert len(data.train) == 144 and len(data.test) == 72
    assert np.bincount(data.target).tolist() == [24, 24, 0, 0, 24]  # Yi, InternLM, Qwen-Coder in paper5
    assert (data.train.scores.sum(axis=1) == 1).all()
    assert not set(data.train.uids) & set(data.test.uids)
    chat = [b in ka.TASKS["chat"] for b in data.train.benchmarks]
    assert (data.train.scores[chat, 0] == 1).all()


OVERFIT = {"epochs": 16, "lr": 5e-4, "max_query_len": 48, "num_threads": 1}  # 64 steps of 16 on 64 items


@pytest.fixture(scope="module")
def few():
    return ka.overfit_items()


# RouterDC without its sample-sample term: that term pulls the queries of a cluster together, against
# memorising item by item (with it, 0.83 after 64 steps; its routing loss alone reaches 1.0)
@pytest.mark.parametrize("name, options", [("mlc", {}), ("zooter", {}), ("routerdc", {"cluster_weight": 0.0}),
                                           ("lookahead_mlm", {}),
                                           # the variants (T sequences an item for separate): slow-gated
                                           *(pytest.param(f"lookahead_mlm_{v}", {}, marks=slow)
                                             for v in ("separate", "nolm", "nocurr", "startmask", "randmask"))])
def test_overfits_64_items(few, name, options):
    result = ka.overfit(name, "small", {**OVERFIT, **options}, few)
    assert result["accuracy"] >= ka.OVERFIT_PASS, (name, result["accuracy"], result["best_single"])


@slow
def test_overfits_64_items_lookahead_clm(few):
    result = ka.overfit("lookahead_clm", "small", {**OVERFIT, "epochs": 8}, few)  # 64 steps of 8
    assert result["accuracy"] >= ka.OVERFIT_PASS, (result["accuracy"], result["best_single"])
