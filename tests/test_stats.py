"""The paired bootstrap (harness/report/bootstrap.py) and the analyses (harness/report/analysis.py): known answers,
exactness against the native metrics, the AlpacaEval LC approximation's error, seeds, reproducibility,
interval coverage, the leaderboard marks and the CLI."""
from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from benchmarks import PAPER_BENCHMARKS
from benchmarks.alpacaeval import length_controlled
from harness.report import analysis, board, bootstrap as stats, ranking
from harness.report import runs as report_runs
from harness.core import store
from harness.core.pools import PAPER5
from tests.conftest import cli_env
from tests.stats_fixtures import NOISY, SEEDS, build_runs

SMALL = stats.Settings(resamples=300, seed=3)  # quick settings where the figure is not reported


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return build_runs(tmp_path_factory.mktemp("stats"))


@pytest.fixture(scope="module")
def runs(results):
    return report_runs.load_runs(results)


@pytest.fixture(scope="module")
def groups(runs):
    return stats.all_group_stats(runs, stats.Settings())


def _run(runs, router):
    return next(r for r in runs if r.router == router)


def _clone(run, router, protocol="cv", seed=0):
    twin = copy.copy(run)
    twin.router, twin.protocol, twin.profile, twin.seed = router, protocol, "cpu", seed
    return twin


def test_router_identical_to_oracle_scores_100_in_every_resample(runs):
    twin = _clone(_run(runs, "oracle"), "oracle_twin")
    s = stats.group_stats([twin], stats.Bootstrap(stats.Settings()))
    assert s.scored() == PAPER_BENCHMARKS
    for bench in PAPER_BENCHMARKS:
        assert s.draws_mu_n[bench].shape == (1000,)
        np.testing.assert_allclose(s.draws_mu_n[bench], 100.0, atol=1e-9)
    np.testing.assert_allclose(s.avg_draws(), 100.0, atol=1e-9)


def test_two_identical_routers_differ_by_zero_with_p_one(runs, groups):
    key = next(k for k in groups if k[0] == NOISY)
    twin_runs = [_clone(r, "noisy_twin", seed=r.seed) for r in groups[key].runs]
    twin = stats.group_stats(twin_runs, stats.Bootstrap(stats.Settings()))
    comp = stats.compare(groups[key], twin)
    assert comp.diff == 0 and comp.ci == (0.0, 0.0) and comp.p_value == 1.0
    assert all(d == 0 and p == 1.0 for d, _, p in comp.per_benchmark.values())
    assert not comp.significant


def test_random_router_is_zero_in_every_resample(groups):
    s = groups[("random", "paper5", "none", "-")]
    np.testing.assert_allclose(s.avg_draws(), 0.0, atol=1e-9)


def test_full_sample_scorers_match_the_native_metrics(runs):
    """counts = 1 for every item must give back each adapter's own score (AlpacaEval: approximation)."""
    for run in [_run(runs, "fixed:Yi-1.5-34B-Chat"), _run(runs, NOISY)]:
        for bench, rb in run.benchmarks.items():
            data = store.load(bench, run.models)
            scorer = stats.make_scorer(bench, data)
            got = scorer(rb.choice, np.ones((1, data.n_items)))[0]
            tol = 0.15 if bench == "alpacaeval" else 1e-6
            assert got == pytest.approx(rb.score, abs=tol), (run.router, bench)


def _native_lc(data, choice, rows):
    answers = [data.answers[data.models[choice[i]]][i] for i in rows]
    frame = pd.DataFrame({"instruction": [data.prompts[i] for i in rows],
                          "output_1": [data.meta["reference"][i] for i in rows],
                          "generator_1": "gpt4_1106_preview", "output_2": answers, "generator_2": "routed",
                          "annotator": "x", "preference": data.native["preference"][rows, choice[rows]]},
                         index=pd.Index(data.positions[rows]))
    return length_controlled(frame)["length_controlled_winrate"]


def test_alpacaeval_approximation_against_native_on_resamples(runs):
    """The vectorised GLM refit against alpaca_eval's own LC function on the same resamples."""
    data = store.load("alpacaeval", PAPER5)
    scorer = stats.make_scorer("alpacaeval", data)
    rng = np.random.default_rng(11)
    errors = []
    for router in ("oracle", "fixed:Yi-1.5-34B-Chat", NOISY):
        choice = _run(runs, router).benchmarks["alpacaeval"].choice
        for _ in range(6):
            rows = rng.integers(0, data.n_items, data.n_items)
            counts = np.bincount(rows, minlength=data.n_items)[None, :].astype(float)
            errors.append(scorer(choice, counts)[0] - _native_lc(data, choice, rows))
    print(f"AlpacaEval LC approximation error on 18 resamples: max |err| {np.max(np.abs(errors)):.3f}, "
          f"mean {np.mean(errors):+.3f}")
    assert np.max(np.abs(errors)) < 0.25


def test_seeded_reproducibility(runs):
    run = _run(runs, NOISY)
    a = stats.group_stats([run], stats.Bootstrap(SMALL, cache=False))
    b = stats.group_stats([run], stats.Bootstrap(SMALL, cache=False))
    c = stats.group_stats([run], stats.Bootstrap(stats.Settings(resamples=300, seed=4), cache=False))
    for bench in PAPER_BENCHMARKS:
        np.testing.assert_array_equal(a.draws_mu_n[bench], b.draws_mu_n[bench])
        # another seed, other draws (finite ones: NaN draws would also be "not equal")
        assert np.isfinite(c.draws_mu_n[bench]).all() and np.isfinite(a.draws_mu_n[bench]).all()
        assert not np.array_equal(a.draws_mu_n[bench], c.draws_mu_n[bench])
    cached = stats.group_stats([run], stats.Bootstrap(SMALL, cache=True))
    again = stats.group_stats([run], stats.Bootstrap(SMALL, cache=True))  # read back from the disk cache
    np.testing.assert_array_equal(cached.avg_draws(), a.avg_draws())
    np.testing.assert_array_equal(again.avg_draws(), a.avg_draws())


def test_interval_coverage_on_simulated_accuracy():
    """A 95% percentile interval of a mean of Bernoulli(0.7) items covers 0.7 about 95% of the time."""
    rng = np.random.default_rng(0)
    covered = 0
    trials, n = 200, 300
    for t in range(trials):
        values = (rng.random((n, 1)) < 0.7).astype(float) * 100
        counts = stats.resample_counts("sim", n, 500, t)
        low, high = stats.interval(stats._mean_scorer(values)(np.zeros(n, dtype=np.int64), counts))
        covered += low <= 70.0 <= high
    assert 0.89 <= covered / trials <= 0.99


def test_intervals_contain_the_point_and_seeds_combine(groups):
    for key, s in groups.items():
        low, high = stats.interval(s.avg_draws())
        assert low - 1e-9 <= s.avg_point() <= high + 1e-9, key
    noisy = next(s for k, s in groups.items() if k[0] == NOISY)
    assert noisy.seeds == list(SEEDS)
    per_seed = [r.raw["average_normalized"] for r in noisy.runs]
    assert noisy.avg_point() == pytest.approx(np.mean(per_seed))
    assert noisy.avg_std() == pytest.approx(np.std(per_seed, ddof=1))
    assert noisy.avg_std() > 0


def test_identical_seeds_reduce_to_one_run(runs):
    """Three seeds with the same choices: std 0 and exactly the single run's draws."""
    run = _run(runs, NOISY)
    boot = stats.Bootstrap(SMALL, cache=False)
    single = stats.group_stats([run], boot)
    triple = stats.group_stats([_clone(run, NOISY, seed=s) for s in SEEDS], boot)
    np.testing.assert_allclose(triple.avg_draws(), single.avg_draws(), atol=1e-9)
    assert triple.avg_std() == pytest.approx(0.0, abs=1e-12)


def test_p_value_tails():
    assert stats.p_value(np.ones(100)) == 0.0
    assert stats.p_value(np.zeros(100)) == 1.0
    assert stats.p_value(np.r_[-np.ones(50), np.ones(50)]) == 1.0
    assert stats.p_value(np.r_[-np.ones(10), np.ones(90)]) == pytest.approx(0.2)


def test_leader_and_ties(groups):
    marks = ranking.tie_marks(groups)[("paper5", "cv")]
    assert list(marks.values()).count("leader") == 1
    assert ("oracle", "paper5", "none", "-") not in marks
    assert marks[("random", "paper5", "none", "-")] == "behind"


def test_leaderboard_markdown_shows_intervals_and_marks(results, groups, monkeypatch):
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(results))
    text = board.render()
    marks = ranking.tie_marks(groups)[("paper5", "cv")]
    leader = next(key for key, mark in marks.items() if mark == "leader")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    marked = {line.split("|")[1].strip().split()[0] for line in rows if "▲" in line}
    assert marked == {leader[0]}  # the mark sits on the leader's rows only
    yi = groups[("fixed:Yi-1.5-34B-Chat", "paper5", "none", "-")]
    low, high = stats.interval(yi.avg_draws())
    yi_row = next(line for line in text.splitlines() if line.startswith("| fixed:Yi-1.5-34B-Chat |"))
    assert f"| {yi.avg_point():.1f} [{low:.1f}, {high:.1f}] |" in yi_row and low < yi.avg_point() < high
    oracle_row = next(line for line in text.splitlines() if line.startswith("| oracle |"))
    assert "100.0 [100.0, 100.0]" in oracle_row
    noisy_row = next(line for line in text.splitlines() if line.startswith(f"| {NOISY} |"))
    assert "(seeds 0,1,2:" in noisy_row


def test_win_tie_loss_and_shares(groups):
    noisy = next(s for k, s in groups.items() if k[0] == NOISY)
    yi = groups[("fixed:Yi-1.5-34B-Chat", "paper5", "none", "-")]
    rows = analysis.win_tie_loss(noisy, yi)
    assert {r.benchmark for r in rows} == {"gsm8k", "math", "humaneval", "mbpp"}
    assert sorted({r.k for r in rows}) == [1, 2, 3, 4]  # k = 0 and k = 5 tie for everyone: left out
    for r in rows:  # by hand: items with k correct candidates; A right and Yi wrong, mean over A's seeds
        correct = store.load(r.benchmark, PAPER5).native["correct"].astype(bool)
        sel = correct.sum(axis=1) == r.k
        mine = [correct[np.arange(len(correct)), run.benchmarks[r.benchmark].choice] for run in noisy.runs]
        win = np.mean([np.sum(sel & ok & ~correct[:, 0]) for ok in mine])
        loss = np.mean([np.sum(sel & ~ok & correct[:, 0]) for ok in mine])
        assert (r.items, r.win, r.loss) == (sel.sum(), pytest.approx(win), pytest.approx(loss)), (r.benchmark, r.k)
        assert r.tie == pytest.approx(r.items - win - loss)
    assert sum(r.win for r in rows) > 0 and sum(r.loss for r in rows) > 0
    oracle = groups[("oracle", "paper5", "none", "-")]
    vs_oracle = analysis.win_tie_loss(noisy, oracle)
    assert all(r.win == 0 for r in vs_oracle) and sum(r.loss for r in vs_oracle) > 0  # right whenever anyone is
    one = analysis.win_tie_loss(oracle, oracle)
    assert all(r.tie == r.items for r in one)
    # shares pool the items of the benchmarks (not a mean of per-benchmark shares), mean over seeds
    shares = analysis.routing_shares(noisy, ["gsm8k", "humaneval"])
    by_hand = np.mean([[np.mean(np.r_[run.benchmarks["gsm8k"].choice, run.benchmarks["humaneval"].choice] == j)
                        for j in range(len(PAPER5))] for run in noisy.runs], axis=0)
    np.testing.assert_allclose(shares, by_hand)


def test_activated_parameters(groups):
    yi = groups[("fixed:Yi-1.5-34B-Chat", "paper5", "none", "-")]
    assert analysis.activated_params(yi) == pytest.approx((34.4, 34.4))
    rnd = groups[("random", "paper5", "none", "-")]
    mean = np.mean([34.4, 19.9, 14.0, 8.0, 7.6])
    assert analysis.activated_params(rnd) == pytest.approx((mean, mean))
    assert analysis.ensemble_params(PAPER5) == pytest.approx(83.9)


def test_analysis_markdown_has_the_three_analyses(groups):
    text = analysis.analysis_markdown(groups, stats.Settings())
    lines = text.splitlines()
    # routing proportions: the oracle's are the data's (ties to the first candidate), the noisy router's its choices
    assert "| oracle | gsm8k | 90.9 | 6.8 | 1.4 | 0.6 | 0.2 |" in lines
    noisy = next(s for k, s in groups.items() if k[0] == NOISY)
    shares = analysis.routing_shares(noisy, ["math"])
    assert f"| {NOISY} (cv/cpu) | math | " + " | ".join(f"{100 * x:.1f}" for x in shares) + " |" in lines
    # win / tie / loss rows of the default pair, as win_tie_loss counts them
    pair = analysis.default_pairs(groups)[0]
    first = analysis.win_tie_loss(groups[pair[0]], groups[pair[1]])[0]
    assert f"| {first.benchmark} | {first.k} | {first.items} | {first.win:g} | {first.tie:g} | {first.loss:g} |" in lines
    # quality against cost: Yi always routes to its 34.4B self; random is the pool's mean size
    yi = next(line for line in lines if line.startswith("| fixed:Yi-1.5-34B-Chat | 7.2 | ["))
    assert yi.endswith("| 34.40 | 34.40 | 0 |") or yi.endswith("| 34.40 | 34.40 | – |")
    assert any(line.startswith("| random | 0.0 | [0.0, 0.0] | 16.78 | 16.78 |") for line in lines)
    assert "| *ensemble: every candidate + judge* | ≤ 100 | – | 83.9 + judge |" in text


def _cli(results, *args):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          env=cli_env(results), timeout=300)


def test_compare_cli(results):
    same = _cli(results, "compare", "oracle", "oracle")
    assert same.returncode == 0, same.stderr
    assert "p = 1.000" in same.stdout and "+0.00 [0.00, 0.00]" in same.stdout
    other = _cli(results, "compare", NOISY, "random")
    assert other.returncode == 0 and "significant at 0.05" in other.stdout
    bad = _cli(results, "compare", "no_such_router", "oracle")
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no_such_router" in errors[0]


def test_run_file_with_other_items_is_refused(runs, tmp_path):
    run = copy.copy(_run(runs, NOISY))
    run.benchmarks = dict(run.benchmarks)
    bench = copy.copy(run.benchmarks["gsm8k"])
    bench.ids = bench.ids[:-1]
    run.benchmarks["gsm8k"] = bench
    with pytest.raises(stats.HarnessError, match="gsm8k"):
        stats.group_stats([run], stats.Bootstrap(SMALL, cache=False))


def test_find_key_names_a_profile_where_a_router_has_several():
    keys = [("mlc", "paper5", "cv", "cpu"), ("mlc", "paper5", "cv", "small"), ("random", "paper5", "none", "-")]
    with pytest.raises(stats.HarnessError, match="mlc@cpu or mlc@small"):
        ranking.find_key(keys, "mlc", "paper5", "cv")
    assert ranking.find_key(keys, "mlc@small", "paper5", "cv") == ("mlc", "paper5", "cv", "small")
    assert ranking.find_key(keys, "random", "paper5", "cv") == ("random", "paper5", "none", "-")
    with pytest.raises(stats.HarnessError, match="no run file"):
        ranking.find_key(keys, "mlc@paper", "paper5", "cv")


def test_a_board_row_is_its_seed_group_and_rows_are_ordered_by_it(results, monkeypatch):
    """One definition of a row (router, pool, protocol, profile, all its seeds): the Avg column is the
    mean over seeds (as in the interval table and the ranking), and learned rows are ordered by it,
    so the leader mark sits on the first learned row when a learned router leads."""
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(results))
    text = board.render()
    groups = stats.all_group_stats(settings=stats.Settings())
    noisy = next(s for k, s in groups.items() if k[0] == NOISY)
    row = next(line for line in text.splitlines() if line.startswith(f"| {NOISY} |"))
    avg_cell = row.split("|")[-4].strip()
    assert avg_cell, row
    assert float(avg_cell.split()[0]) == pytest.approx(noisy.avg_point(), abs=0.051)
    assert abs(noisy.avg_point() - noisy.seed_avgs[0]) > 0.05  # seed 0 alone would differ (NaN fails too)
    section = text.split("## Pool `paper5`, protocol `cv`", 1)[1].split("95% intervals", 1)[0]  # the main table
    learned = [line for line in section.splitlines() if line.startswith("| ") and "| - |" not in line
               and not line.startswith("| Router")]
    averages = [float(line.split("|")[-4].split()[0].rstrip("*")) for line in learned]
    assert averages == sorted(averages, reverse=True)
    leader = [line for line in section.splitlines() if line.startswith("| ") and "▲" in line.split("|")[-4]]
    assert leader and leader[0] == learned[0]  # the fixture's leader is a learned router (noisy)


def test_rows_are_ordered_by_their_seed_group_mean_not_by_the_last_seed():
    """A learned row whose last seed scored 40 but whose three seeds average 30 sorts below a
    single-seed row at 35 (the order the leader mark and the interval table use)."""
    from types import SimpleNamespace

    rows = lambda v: {"gsm8k": {"normalized": str(v)}, "mbpp": {"normalized": str(v)}}  # noqa: E731
    multi = SimpleNamespace(runs=[1, 2, 3], point_mu_n={"gsm8k": 30.0, "mbpp": 30.0})
    entries = {("a", "small"): rows(40), ("b", "cpu"): rows(35), ("oracle", "-"): rows(100)}
    groups = {("a", "small"): multi, ("b", "cpu"): None, ("oracle", "-"): None}
    averages = {e: board._average(by, groups[e], ["gsm8k", "mbpp"]) for e, by in entries.items()}
    assert averages[("a", "small")] == pytest.approx(30.0) and averages[("b", "cpu")] == pytest.approx(35.0)
    order = sorted(entries.items(), key=lambda kv: board._row_order(kv, ["m1"], averages[kv[0]]))
    assert [e for e, _ in order] == [("oracle", "-"), ("b", "cpu"), ("a", "small")]
