"""Issue 21: the `within` and `lobo` protocols (fold construction, no leakage, every item predicted
once, the recorded single-model reference), the skill figure on a constructed case, and the
task_rules reference router."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from harness.core import protocols, store
from harness.core.errors import HarnessError
from harness.core.runner import EvalConfig, evaluate, evaluate_run
from harness.report import bootstrap, skill
from harness.report.runs import run_from_dict
from routers import build_router, register_router
from routers.base import HiddenLabels, Router, RouterContext
from routers.task_rules import assign_roles, route

FAST = ["mtbench", "humaneval", "mbpp"]  # 80 + 164 + 257 items: cheap to score and to bootstrap
LABELS = ["a"] * 23 + ["b"] * 17 + ["c"] * 9


def _check_partition(parts: list[protocols.Split], n: int) -> None:
    tested = np.concatenate([p.test for p in parts])
    assert sorted(tested.tolist()) == list(range(n))  # every item predicted exactly once
    for p in parts:
        assert len(p.train) and not set(p.train) & set(p.test)  # no test item in training


def test_within_folds_stay_inside_one_benchmark_and_are_cv_s_folds():
    parts = protocols.splits("within", LABELS, 5, seed=3)
    labels = np.asarray(LABELS)
    assert len(parts) == 3 * 5
    _check_partition(parts, len(LABELS))
    cv = protocols.cv_folds(LABELS, 5, 3)
    for p in parts:
        bench = {labels[i] for i in p.test}
        assert len(bench) == 1 and {labels[i] for i in p.train} == bench  # never another benchmark
        name, fold = p.key.split(":")[1], int(p.key.split(":")[2])
        assert set(p.test) == set(np.flatnonzero((labels == name) & (cv == fold)))  # cv's fold, that benchmark only
        assert set(p.train) == set(np.flatnonzero((labels == name) & (cv != fold)))
    with pytest.raises(HarnessError, match="benchmark 'c' has 9 item"):
        protocols.splits("within", LABELS, 10, seed=0)


def test_lobo_holds_out_each_benchmark_in_turn():
    parts = protocols.splits("lobo", LABELS, 5, seed=0)
    labels = np.asarray(LABELS)
    assert [p.key for p in parts] == ["lobo:a", "lobo:b", "lobo:c"]
    _check_partition(parts, len(LABELS))
    for p, name in zip(parts, "abc"):
        assert set(p.test) == set(np.flatnonzero(labels == name))
        assert set(p.train) == set(np.flatnonzero(labels != name))
    with pytest.raises(HarnessError, match="at least two benchmarks"):
        protocols.splits("lobo", ["a"] * 5, 5, seed=0)


def test_single_best_weighs_benchmarks_equally_whatever_their_scale():
    # benchmark x (scores in the tens, many items) favours model 0; y and z (0/1 verdicts) favour model 1:
    # the pooled raw mean would pick model 0, the rule (min-max per benchmark, then the mean) picks 1
    scores = np.array([[30.0, 10.0]] * 10 + [[0.0, 1.0]] * 2 + [[0.0, 1.0]] * 2)
    labels = ["x"] * 10 + ["y"] * 2 + ["z"] * 2
    assert int(np.argmax(scores.mean(axis=0))) == 0
    assert protocols.single_best(scores, labels) == 1
    assert protocols.single_best(scores[:10], labels[:10]) == 0  # one benchmark: its best mean score


class Recording(Router):
    """A learned router that records what each fit and predict saw, and routes like task-free kNN
    would not: it predicts the training mean (the same candidate for every item)."""

    learns = True
    fits: list[tuple[set[str], list[str]]] = []  # per fit: training uids and prompts
    predicted: list[list[str]] = []  # per fit: the prompts it predicted (ids are opaque there)

    def fit(self, train, valid=None):
        Recording.fits.append((set(train.uids), list(train.prompts)))
        self.mean = np.asarray(train.scores).mean(axis=0)

    def predict(self, items):
        assert isinstance(items.benchmarks, HiddenLabels)  # labels build the folds; predict never sees them
        Recording.predicted.append(list(items.prompts))
        return np.tile(self.mean, (len(items), 1))


register_router("_recording_protocols")(Recording)


@pytest.mark.parametrize("protocol", ["within", "lobo"])
def test_fold_protocols_end_to_end(protocol, results_dir, tmp_path, monkeypatch, paper5):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))  # really fit: no cached folds
    Recording.fits.clear()
    Recording.predicted.clear()
    evaluate(EvalConfig(router="_recording_protocols", benchmarks=FAST, protocol=protocol, folds=3))
    run = json.loads((results_dir / "runs" / f"_recording_protocols__paper5__{protocol}__cpu__seed0.json").read_text())
    assert run["protocol"] == protocol and run["routing"]["folds"] == 3
    datas = {b: store.load(b, paper5) for b in FAST}
    n = sum(d.n_items for d in datas.values())
    assert len(Recording.fits) == (3 * len(FAST) if protocol == "within" else len(FAST))
    assert sum(len(p) for p in Recording.predicted) == n  # every item predicted once
    rows = [r for r in (results_dir / "leaderboard.csv").read_text().splitlines()[1:]]
    assert len(rows) == len(FAST) and all(f",{protocol}," in r for r in rows)  # recorded in every row
    uids = {name: {f"{name}/{i}" for i in data.ids} for name, data in datas.items()}
    for j, ((seen, prompts), shown) in enumerate(zip(Recording.fits, Recording.predicted)):
        name = FAST[j // 3] if protocol == "within" else FAST[j]  # the benchmark this fit predicted
        assert Counter(shown) <= Counter(datas[name].prompts)
        if protocol == "lobo":  # trained on every other benchmark, never on the held-out one
            assert seen == set().union(*(uids[b] for b in FAST if b != name)) and len(shown) == datas[name].n_items
        else:  # its own benchmark's other folds: training and test items make up the benchmark, once each
            assert seen <= uids[name] and Counter(prompts) + Counter(shown) == Counter(datas[name].prompts)
    for name, data in datas.items():
        ref = run["benchmarks"][name]["reference"]
        assert len(ref["choice"]) == data.n_items and set(ref["choice"]) <= set(range(len(paper5)))
        if protocol == "lobo":  # one fold per benchmark: the best single model of the other two
            others = np.concatenate([datas[b].gt for b in FAST if b != name])
            labels = [b for b in FAST if b != name for _ in range(datas[b].n_items)]
            assert set(ref["choice"]) == {protocols.single_best(others, labels)}


def test_lobo_refuses_routers_that_read_the_benchmark_name(results_dir):
    with pytest.raises(HarnessError, match="held-out benchmark"):
        evaluate_run(EvalConfig(router="task_best", benchmarks=FAST, protocol="lobo"))


def test_task_best_under_within_is_the_recorded_reference(results_dir):
    _, run = evaluate_run(EvalConfig(router="task_best", benchmarks=FAST, protocol="within", folds=3))
    for name, bench in run["benchmarks"].items():
        assert bench["choice"] == bench["reference"]["choice"], name
        assert bench["normalized"] == pytest.approx(bench["reference"]["normalized"])


def _run(router: str, protocol: str, choices: dict[str, np.ndarray], refs: dict[str, np.ndarray] | None,
         models: list[str]) -> dict:
    """A run record for a constructed routing: mu_o and mu_n of the given choices, scored natively."""
    from benchmarks import get_benchmark
    from harness.core.normalize import normalized
    from harness.core.runner import references

    out = {}
    for name, choice in choices.items():
        data, adapter, r = store.load(name, models), get_benchmark(name), references(name, tuple(models))
        score = lambda c: adapter.score(data, c, detail=False)["score"]  # noqa: E731
        out[name] = {"ids": data.ids, "choice": choice.tolist(), "score": score(choice),
                     "normalized": normalized(score(choice), r["random"], r["oracle"]), "details": {}}
        if refs is not None:
            out[name]["reference"] = {"choice": refs[name].tolist(), "score": score(refs[name]),
                                      "normalized": normalized(score(refs[name]), r["random"], r["oracle"])}
    return {"router": router, "pool": "paper5", "models": models, "protocol": protocol,
            "profile": "cpu" if protocol != "none" else "-", "seed": 0, "benchmarks": out}


def test_skill_figure_on_a_constructed_case(paper5):
    """Router = oracle on HumanEval and = its reference on MBPP: the skill is exactly oracle − reference
    on HumanEval (interval clear of zero), exactly zero on MBPP, and their mean on average."""
    he, mb = store.load("humaneval", paper5), store.load("mbpp", paper5)
    yi = {b: np.zeros(d.n_items, dtype=np.int64) for b, d in (("humaneval", he), ("mbpp", mb))}
    router = {"humaneval": he.oracle_choice(), "mbpp": yi["mbpp"]}
    settings = bootstrap.Settings(resamples=300)
    boot = bootstrap.Bootstrap(settings)
    within = run_from_dict(_run("_constructed", "within", router, yi, paper5))
    cv = run_from_dict(_run("_constructed", "cv", router, None, paper5))
    task_best = run_from_dict(_run("task_best", "cv", yi, None, paper5))
    stats = {r.key: bootstrap.group_stats([r], boot) for r in (within, cv, task_best)}
    found = skill.skills(stats, settings, boot)
    for protocol in ("within", "cv"):
        (row,) = found[("paper5", protocol)]
        assert row.key[0] == "_constructed" and row.reference.router in ("single_best", "task_best")
        diff, ci, p = row.comparison.per_benchmark["humaneval"]
        yi_mu_n = stats[task_best.key].point_mu_n["humaneval"]
        assert diff == pytest.approx(100.0 - yi_mu_n) and ci[0] > 0 and p < 0.01
        assert row.comparison.per_benchmark["mbpp"][0] == 0 and row.comparison.per_benchmark["mbpp"][1] == (0.0, 0.0)
        assert row.comparison.diff == pytest.approx((100.0 - yi_mu_n) / 2)
    text = "\n".join(skill.section(found[("paper5", "within")], "within", 300))
    assert "| _constructed | cpu | 1 |" in text and f"+{(100.0 - yi_mu_n) / 2:.1f}" in text


def test_task_rules_routes_by_prompt_rules_to_named_roles(paper5):
    assert route("Write a python function that reverses a list.") == "code"
    assert route("def f(x):\n    return x") == "code"
    assert route("What is $\\frac{1}{2} + \\frac{1}{3}$?") == "math"
    assert route("How many apples are left if I eat 3 of 7?") == "math"
    assert route("Write a short poem about autumn.") == "chat"
    assert assign_roles(paper5) == {"code": "Qwen2.5-Coder-7B-Instruct", "math": "internlm2_5-20b-chat",
                                    "chat": "Yi-1.5-34B-Chat"}
    assert assign_roles(["a", "b"])["math"] == "a"  # no coder, no math model: everything to the chat model
    router = build_router("task_rules", RouterContext(models=paper5, options={"math": "Phi-3-medium-4k-instruct"}))
    data = store.load("gsm8k", paper5)
    from harness.core.runner import routing_data

    items = routing_data({"gsm8k": data}, paper5).queries()  # prompts only: labels hidden
    assert set(np.argmax(router.predict(items), axis=1)) == {paper5.index("Phi-3-medium-4k-instruct")}
    with pytest.raises(HarnessError, match="not in the pool"):
        build_router("task_rules", RouterContext(models=paper5, options={"code": "gpt-4"}))
    with pytest.raises(HarnessError, match="unknown option"):
        build_router("task_rules", RouterContext(models=paper5, options={"k": "3"}))
