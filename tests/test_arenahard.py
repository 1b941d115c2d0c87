"""Arena-Hard battle rules and the Bradley-Terry fit."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.arenahard import battle_counts, bradley_terry_winrate, closed_form_winrate
from harness.core import store


def test_battle_rules_strong_weak_tie_and_failure():
    nan = np.nan
    # game1: baseline is A. A>>B (3) -> baseline wins 3; game2: model is A. A>B (1) -> model wins 1
    game1 = np.array([3.0, 0.0, nan, -3.0])
    game2 = np.array([1.0, 0.0, 3.0, nan])
    wins, losses, ties = battle_counts(game1, game2)
    assert wins.tolist() == [1, 0, 3, 3]
    assert losses.tolist() == [3, 0, 3, 3]  # a failed game is a strong win for the baseline
    assert ties.tolist() == [0, 2, 0, 0]


@pytest.mark.parametrize("counts", [(10, 5, 3), (1, 40, 0), (7, 7, 7), (120.0, 33.0, 18.0)])
def test_bradley_terry_fit_equals_closed_form(counts):
    fit = bradley_terry_winrate(*counts)
    closed = closed_form_winrate(*(np.array(c, dtype=float) for c in counts))
    assert fit == pytest.approx(float(closed), abs=1e-4)


SPEC_VALUE = {"A>>B": 3, "A>B": 1, "A=B": 0, "B>A": -1, "B>>A": -3}  # paper notes, section 2


def test_ground_truth_rule(paper5):
    """gt = value(game 2) - value(game 1), -6 if either failed: from the judgment files' verdicts."""
    from harness.core import config
    from harness.core.io import read_jsonl

    data = store.load("arenahard", paper5)
    failures = 0
    for j, model in enumerate(paper5):
        path = config.cache_root() / "test/ArenaHard/model_judgment" / f"{model}.jsonl.gz"
        verdicts = {str(r["question_id"]): [g["score"] for g in r["games"]] for r in read_jsonl(path)}
        for i, qid in enumerate(data.ids):
            v1, v2 = verdicts[qid]
            expected = -6 if v1 is None or v2 is None else SPEC_VALUE[v2] - SPEC_VALUE[v1]
            failures += v1 is None or v2 is None
            assert data.gt[i, j] == expected, (model, qid)
    assert failures == 7  # items with a failed game in paper5 (9 games): the -6 rule is exercised


def test_interval_brackets_score(paper5):
    from benchmarks import get_benchmark

    data = store.load("arenahard", paper5)
    result = get_benchmark("arenahard").score(data, data.fixed_choice(0), seed=3)
    assert result["ci_low"] < result["score"] < result["ci_high"]
    again = get_benchmark("arenahard").score(data, data.fixed_choice(0), seed=3)
    assert again["ci_low"] == result["ci_low"]
