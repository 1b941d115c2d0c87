"""The bootstrap is paired: two routers' differences are taken on the *same* item resamples (and, for
seed groups, the same seed draws). The other bootstrap tests compare routers with identical choices,
where an unpaired bootstrap gives the same answer; here the two routers differ on a few items only,
so the paired interval of their difference is narrow and excludes 0, while an unpaired one (each
router on its own resamples) is several times wider and includes 0. The paired figures are worked
out here by hand from the documented resampling (harness/report/bootstrap.py)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import get_benchmark
from harness.core import store
from harness.core.normalize import normalized
from harness.core.pools import PAPER5
from harness.report import bootstrap as stats
from harness.report.runs import run_from_dict

BENCHES = ("gsm8k", "humaneval")
SETTINGS = stats.Settings(resamples=1000, seed=0)


def _better_than_yi(data, count: int, skip: int = 0) -> np.ndarray:
    """Yi everywhere, except ``count`` items where Yi is wrong and another candidate is right."""
    correct = data.native["correct"].astype(bool)
    fixable = np.flatnonzero(~correct[:, 0] & correct.any(axis=1))[skip:skip + count]
    choice = np.zeros(data.n_items, dtype=np.int64)
    choice[fixable] = np.argmax(correct[fixable], axis=1)
    return choice


def _run(router: str, seed: int, choices: dict[str, np.ndarray]):
    benches = {}
    for bench, choice in choices.items():
        data = store.load(bench, PAPER5)
        score = get_benchmark(bench).score(data, choice)["score"]
        refs = [get_benchmark(bench).score(data, data.fixed_choice(j))["score"] for j in range(len(PAPER5))]
        oracle = get_benchmark(bench).score(data, data.oracle_choice())["score"]
        benches[bench] = {"choice": choice.tolist(), "ids": data.ids, "score": score,
                          "normalized": normalized(score, float(np.mean(refs)), oracle), "details": {}}
    return run_from_dict({"router": router, "pool": "paper5", "models": PAPER5, "protocol": "cv",
                          "profile": "cpu", "seed": seed, "benchmarks": benches})


def _mu_n_draws(bench: str, choice: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """mu_n per resample: the routed mean, with random and oracle recomputed on the same resample."""
    data = store.load(bench, PAPER5)
    values = data.native["correct"].astype(float) * 100.0
    mean = lambda c: counts @ values[np.arange(data.n_items), c] / counts.sum(axis=1)  # noqa: E731
    random = np.mean([mean(data.fixed_choice(j)) for j in range(len(PAPER5))], axis=0)
    oracle = mean(data.oracle_choice())
    return (mean(choice) - random) / (oracle - random) * 100.0


def _counts(bench: str, seed: int = SETTINGS.seed) -> np.ndarray:
    return stats.resample_counts(bench, store.load(bench, PAPER5).n_items, SETTINGS.resamples, seed)


@pytest.fixture(scope="module")
def choices():
    datas = {b: store.load(b, PAPER5) for b in BENCHES}
    better = {b: _better_than_yi(d, max(3, d.n_items // 60)) for b, d in datas.items()}
    other = {b: _better_than_yi(d, max(3, d.n_items // 60), skip=max(3, d.n_items // 60)) for b, d in datas.items()}
    yi = {b: d.fixed_choice(0) for b, d in datas.items()}
    return better, other, yi


def test_differing_routers_are_compared_on_the_same_resamples(choices):
    better, _, yi = choices
    boot = stats.Bootstrap(SETTINGS, cache=False)
    run_a, run_b = _run("better", 0, better), _run("yi_like", 0, yi)
    comp = stats.compare(stats.group_stats([run_a], boot), stats.group_stats([run_b], boot))
    diffs = {}
    for bench in BENCHES:
        counts = _counts(bench)
        diffs[bench] = _mu_n_draws(bench, better[bench], counts) - _mu_n_draws(bench, yi[bench], counts)
        point, ci, p = comp.per_benchmark[bench]
        expected = run_a.benchmarks[bench].normalized - run_b.benchmarks[bench].normalized
        assert point == pytest.approx(expected) and expected > 0, bench
        assert ci == pytest.approx(stats.interval(diffs[bench]), abs=1e-9), bench
        assert p == pytest.approx(stats.p_value(diffs[bench])), bench
    paired = np.mean([diffs[b] for b in BENCHES], axis=0)
    assert comp.diff == pytest.approx(np.mean([comp.per_benchmark[b][0] for b in BENCHES]))
    assert comp.ci == pytest.approx(stats.interval(paired), abs=1e-9)
    assert comp.p_value == 0.0 and comp.significant  # better on every resample that draws a fixed item

    # unpaired (each router on resamples of its own) the same difference is not resolved
    unpaired = np.mean([_mu_n_draws(b, better[b], _counts(b)) - _mu_n_draws(b, yi[b], _counts(b, seed=1))
                        for b in BENCHES], axis=0)
    low, high = stats.interval(unpaired)
    assert low < 0 < high and not comp.ci[0] < 0
    assert high - low > 2.5 * (comp.ci[1] - comp.ci[0])  # measured: 37.5 against 12.2


def test_seed_groups_draw_the_same_seeds_for_both_routers(choices):
    """Two seeds each: in every resample both groups take the seeds drawn by one seed_resample."""
    better, other, yi = choices
    boot = stats.Bootstrap(SETTINGS, cache=False)
    a = stats.group_stats([_run("a", 0, better), _run("a", 1, other)], boot)
    b = stats.group_stats([_run("b", 0, yi), _run("b", 1, better)], boot)
    comp = stats.compare(a, b)
    pick = stats.seed_resample(2, SETTINGS)
    rows = np.arange(SETTINGS.resamples)[:, None]
    for bench in BENCHES:
        counts = _counts(bench)
        draws_a = np.stack([_mu_n_draws(bench, c[bench], counts) for c in (better, other)])
        draws_b = np.stack([_mu_n_draws(bench, c[bench], counts) for c in (yi, better)])
        diff = draws_a[pick, rows].mean(axis=1) - draws_b[pick, rows].mean(axis=1)
        assert comp.per_benchmark[bench][1] == pytest.approx(stats.interval(diff), abs=1e-9), bench
