"""`routing-harness scalability` end to end on the smoke profile: cells, "not in cache", resume."""
from __future__ import annotations

import json

import pytest

from harness import cli
from harness.core import runner
from harness.core.pools import PAPER5
from harness.experiments.scalability_plan import CANDIDATES, Settings, make_command

POOL2 = PAPER5[:2]
ARGS = ["scalability", "--sizes", "2,6", "--benchmarks", "humaneval,alpacaeval", "--profile", "smoke", "--folds", "2",
        "--routers", "mlc", "--cost-sample", "2", "--alternative", "none"]


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    results, cache = tmp_path / "results", tmp_path / "cache"
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(results))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))  # fresh fold caches: the first call trains
    return results


def _rows(text: str, section: str = "HumanEval") -> dict[tuple[str, str], list[str]]:
    """Table rows of one benchmark's section, keyed by (T, router)."""
    rows = {}
    for line in text.split(f"## {section} (")[1].split("\n## ")[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 9 and cells[0].isdigit():
            rows[(cells[0], cells[2])] = cells
    return rows


def test_scalability_table_end_to_end(dirs, capsys):
    assert cli.main(ARGS) == 0
    text = (dirs / "scalability.md").read_text()
    rows = _rows(text)
    run_path = dirs / "runs" / runner.run_file_name("mlc", ",".join(POOL2), "cv", "smoke", 0)
    run = json.loads(run_path.read_text())
    bench = run["benchmarks"]["humaneval"]
    refs = runner.references("humaneval", tuple(POOL2))

    assert rows[("2", "random")][3:5] == [f"{refs['random']:.2f}", "0.0"]
    assert rows[("2", "oracle")][3:5] == [f"{refs['oracle']:.2f}", "100.0"]
    mlc = rows[("2", "mlc")]
    assert mlc[3:5] == [f"{bench['score']:.2f}", f"{bench['normalized']:.1f}"]
    cost = json.loads((dirs / "cost" / run_path.name).read_text())
    assert float(mlc[5]) == pytest.approx(cost["per_benchmark"]["humaneval"]["gflops"], rel=1e-3)
    assert float(mlc[5]) > float(mlc[6]) > 0  # all > dense: attention products are counted in "all"
    assert float(mlc[7]) > 0  # p50 latency

    # T=6 adds deepseek-coder-6.7b-instruct, which HumanEval's cache lacks: said, never substituted;
    # AlpacaEval has it, so T=6 is scored there, its router cross-validated on AlpacaEval alone
    for name in ("random", "oracle", "mlc"):
        assert rows[("6", name)][3:] == ["not in cache"] * 6
    assert "humaneval: lacks deepseek-coder-6.7b-instruct" in text
    pool6 = ",".join(CANDIDATES[:6])
    run6 = json.loads((dirs / "runs" / runner.run_file_name("mlc", pool6, "cv", "smoke", 0)).read_text())
    assert list(run6["benchmarks"]) == ["alpacaeval"]
    alpaca = _rows(text, "AlpacaEval-2")
    assert alpaca[("6", "mlc")][3] == f"{run6['benchmarks']['alpacaeval']['score']:.2f}"
    assert alpaca[("6", "oracle")][3] == f"{runner.references('alpacaeval', tuple(CANDIDATES[:6]))['oracle']:.2f}"
    assert "profile **smoke**" in text and "(2 folds, seed 0)" in text and "dense" in text
    assert ("Regenerate with `make scalability SIZES=2,6 SCALABILITY_ROUTERS='mlc' BENCHMARKS=alpacaeval,humaneval "
            "PROFILE=smoke FOLDS=2`") in text

    # a second call reads the run and the cost file: nothing retrained or re-measured
    before = (run_path.stat().st_mtime_ns, (dirs / "cost" / run_path.name).stat().st_mtime_ns)
    capsys.readouterr()
    assert cli.main(ARGS) == 0
    err = capsys.readouterr().err
    assert f"read runs/{run_path.name}" in err and "evaluating" not in err and "measuring" not in err
    assert (run_path.stat().st_mtime_ns, (dirs / "cost" / run_path.name).stat().st_mtime_ns) == before
    assert _rows((dirs / "scalability.md").read_text()) == rows


def test_scalability_no_train_says_not_run_yet(dirs):
    assert cli.main(ARGS[:-6] + ["--routers", "lookahead_mlm", "--no-train", "--alternative", "none"]) == 0
    rows = _rows((dirs / "scalability.md").read_text())
    assert rows[("2", "lookahead_mlm")][3:5] == ["not run yet", "not run yet"]
    assert not (dirs / "runs").exists()


def test_the_alternative_pool_has_its_own_file(dirs):
    """The optional second table never enters scalability.md, so the default command cannot drop it."""
    assert cli.main(ARGS[:-2] + ["--alternative", "gemma6", "--no-train"]) == 0
    main, alt_path = (dirs / "scalability.md").read_text(), dirs / "scalability_gemma6.md"
    alt = alt_path.read_text()
    assert "gemma-2-9b-it" not in main and "SCALABILITY_ALT" not in main
    assert ("Regenerate with `make scalability SIZES=2,6 SCALABILITY_ROUTERS='mlc' BENCHMARKS=alpacaeval,humaneval "
            "PROFILE=smoke FOLDS=2 SCALABILITY_ALT=gemma6`") in alt
    oracle = runner.references("humaneval", tuple(PAPER5 + ["gemma-2-9b-it"]))["oracle"]
    assert f"| HumanEval | paper5 + gemma-2-9b-it | oracle | {oracle:.2f} | 100.0 |" in alt
    assert "| HumanEval | paper5 + gemma-2-9b-it | mlc | not run yet |" in alt

    before = alt_path.stat().st_mtime_ns
    assert cli.main(ARGS[:-2] + ["--alternative", "none", "--no-train"]) == 0
    assert alt_path.stat().st_mtime_ns == before and (dirs / "scalability.md").read_text() == main


def test_make_command_names_only_what_differs_from_the_defaults():
    assert make_command(Settings()) == "make scalability"
    assert make_command(Settings(sizes=[3, 5], profile="small", alternative="gemma6")) == \
        "make scalability SIZES=3,5 PROFILE=small SCALABILITY_ALT=gemma6"


@pytest.mark.parametrize("args, needle", [
    (["--sizes", "3,9"], "SIZES=3,9"),
    (["--sizes", "three"], "SIZES=three"),
    (["--routers", "random"], "'random' does not learn"),
    (["--alternative", "gemma8"], "--alternative gemma8"),
])
def test_scalability_bad_input(dirs, capsys, args, needle):
    assert cli.main(["scalability", "--profile", "smoke", "--no-train", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_lanes_train_the_runs_side_by_side(dirs, capsys):
    """--jobs 2: each missing run is an `eval` process of its own, on its share of the cores; the
    table, run files and leaderboard rows are those of a sequential call."""
    from harness.experiments import lanes
    from harness.core import leaderboard

    args = ["scalability", "--sizes", "2,3", "--benchmarks", "humaneval", "--profile", "smoke", "--folds", "2",
            "--routers", "mlc", "--cost-sample", "2", "--alternative", "none", "--jobs", "2"]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "training 2 run(s) under cv, 2 at a time" in err and err.count(": done in ") == 2
    for pool in (",".join(PAPER5[:2]), "paper3"):
        name = runner.run_file_name("mlc", pool, "cv", "smoke", 0)
        run = json.loads((dirs / "runs" / name).read_text())
        assert run["config"]["options"] == {"num_threads": str(lanes.threads_per_lane(2))}
        assert run["profile"] == "smoke"  # a speed-only option does not rename the run
        assert (lanes.log_dir() / name.replace(".json", ".log")).exists()
        assert json.loads((dirs / "cost" / name).read_text())["torch_threads"] >= 1
    rows = _rows((dirs / "scalability.md").read_text())
    assert rows[("3", "mlc")][3] not in ("not run yet", "not measured")
    assert {(r["pool"], r["router"]) for r in leaderboard.read_rows()} >= {("paper3", "mlc")}

    capsys.readouterr()  # a second call finds every run: no lane starts
    assert cli.main(args) == 0
    assert "started in a lane" not in capsys.readouterr().err


def test_a_failed_lane_names_its_log_and_keeps_the_others(dirs):
    from harness.experiments import lanes
    from harness.core.errors import HarnessError

    good = runner.EvalConfig(router="random", pool="paper3", benchmarks=["humaneval"], protocol="cv")
    bad = runner.EvalConfig(router="no_such_router", pool="paper3", benchmarks=["humaneval"], protocol="cv")
    done = []
    jobs = [lanes.Job(bad, "bad", dirs / "bad.log", weight=2), lanes.Job(good, "good", dirs / "good.log")]
    with pytest.raises(HarnessError, match=r"bad: eval exited with 2; see .*bad\.log"):
        lanes.run(jobs, 2, on_done=done.append, say=lambda line: None)
    assert [job.label for job in done] == ["good"]
    assert "no_such_router" in (dirs / "bad.log").read_text()
    assert (dirs / "runs" / "random__paper3.json").exists()


def test_lanes_start_the_longest_runs_first():
    """The default table's six cold runs, ordered by expected training time (capped items x cost per
    item in T): the two T = 3 Lookahead runs (about an hour each on one core here), MLC T = 3, the two
    T = 8 Lookahead runs (AlpacaEval only), MLC T = 8 (minutes)."""
    from harness.experiments.scalability import expected_training
    from harness.experiments.scalability_plan import main_pools

    s = Settings()
    pools = {p.size: p for p in main_pools(s)}
    cost = {(t, r): expected_training(r, pools[t], pools[t].available, s)
            for t in (3, 8) for r in ("mlc", "lookahead_clm", "lookahead_mlm")}
    order = sorted(cost, key=lambda k: -cost[k])
    assert set(order[:2]) == {(3, "lookahead_clm"), (3, "lookahead_mlm")} and order[2] == (3, "mlc")
    assert set(order[3:5]) == {(8, "lookahead_clm"), (8, "lookahead_mlm")} and order[5] == (8, "mlc")
    # MATH's 5,000 items count as the profile's cap (1,000; Lookahead-CLM 600), not in full
    assert cost[(3, "mlc")] == 805 + 500 + 80 + 1000 + 1000 + 164 + 257


def test_setup_differences_name_each_pools_settings():
    """Runs of one router trained under different settings across pools are named, with the settings
    that differ (a key a run lacks is 'unrecorded'); identical setups, seeds and speed-only keys are not."""
    from harness.experiments.scalability_table import setup_differences
    from harness.experiments.scalability_plan import Pool

    pools = [Pool(3, "p3", ["a", "b", "c"], [], {}), Pool(5, "p5", ["a", "b", "c", "d", "e"], [], {})]

    def state(**cfg):
        return {"run": {"router_config": {"profile": "cpu", "lr": 5e-5, **cfg}}}

    states = {("p3", "clm"): state(num_layers=4, seed=0, packed=True),
              ("p5", "clm"): state(num_layers=None, precision="bf16", seed=1, packed=False),
              ("p3", "mlc"): state(seed=0), ("p5", "mlc"): state(seed=2)}
    lines = setup_differences(pools, states, ["clm", "mlc", "absent"])
    assert lines == ["- **clm**: p3: num_layers=4, precision=unrecorded; p5: num_layers=None, precision=bf16."]
