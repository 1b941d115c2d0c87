"""A researcher's own router (issue: code-keyed caches, scratch runs, no label leaks, the Python API)."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.core import config, fingerprint, store
from harness.core.errors import HarnessError
from routers.base import RoutingData

ROOT = Path(__file__).resolve().parent.parent

LEARNED = textwrap.dedent('''
    import numpy as np
    from routers import register_router
    from routers.base import Router

    @register_router("edit_me")
    class EditMe(Router):
        learns = True

        def fit(self, train, valid=None):
            self.means = np.asarray(train.scores, dtype=float).mean(axis=0)

        def predict(self, items):
            pick = int(np.{pick}(self.means))
            out = np.zeros((len(items), len(self.models)))
            out[:, pick] = 1.0
            return out
''')


def _eval(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "eval", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


def _tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + file.read_bytes())
    return digest.hexdigest()


def test_an_edited_plug_in_is_retrained_not_served_from_the_fold_cache(tmp_path):
    module = tmp_path / "my_router.py"
    env = dict(os.environ, ROUTER_MODULE=str(module), HARNESS_RESULTS_DIR=str(tmp_path / "results"))
    args = ["--router", "edit_me", "--pool", "Yi-1.5-34B-Chat,Qwen2.5-Coder-7B-Instruct",
            "--benchmarks", "humaneval,mbpp", "--folds", "2", "--no-write", "--resamples", "100"]
    module.write_text(LEARNED.format(pick="argmax"))
    first = _eval(args, env)
    assert first.returncode == 0, first.stderr
    again = _eval(args, env)
    assert "re-using edit_me's fit" in again.stderr  # unchanged code: the folds are re-used, and it says so
    module.write_text(LEARNED.format(pick="argmin"))  # the same router now picks the worst model
    edited = _eval(args, env)
    assert edited.returncode == 0, edited.stderr
    assert "re-using" not in edited.stderr and "fitting edit_me" in edited.stderr
    avg = lambda out: float(re.search(r"average mu_n: (-?[\d.]+)", out).group(1))  # noqa: E731
    assert avg(edited.stdout) < avg(first.stdout) - 10


def test_each_test_session_has_its_own_empty_cache():
    cache = config.parsed_cache_dir()
    assert cache != config.data_dir() / "cache"
    assert Path(cache).name.startswith("rh-test-cache-") or os.environ.get("HARNESS_TEST_CACHE_DIR")


@pytest.mark.parametrize("module", ["harness.core.store", "harness.core.scores", "harness.report.bootstrap"])
def test_a_changed_scorer_or_parser_misses_every_cache(module, monkeypatch):
    """Parsed tables, cached scores and bootstrap draws are keyed by the code's fingerprint: a
    different fingerprint (edited code) must not find the entry the old code wrote."""
    import importlib

    from benchmarks import get_benchmark
    from harness.core import scores
    from harness.report.bootstrap import Bootstrap, Settings

    models = ["Yi-1.5-34B-Chat", "Qwen2.5-Coder-7B-Instruct"]
    adapter, data = get_benchmark("humaneval"), store.load("humaneval", models)
    calls = []
    real_score = type(adapter).score
    monkeypatch.setattr(type(adapter), "score", lambda self, *a, **k: calls.append(1) or real_score(self, *a, **k))

    def keys() -> tuple:
        store._memo.clear(), store._data_keys.clear()
        store.load("humaneval", models)
        scores.score(adapter, data, data.oracle_choice(), detail=False)
        digest = Bootstrap(Settings(resamples=100))._digest("humaneval", models, data.oracle_choice())
        return store.data_key("humaneval", models), len(calls), digest

    before = keys()
    same = keys()
    assert same[0] == before[0] and same[1] == before[1] and same[2] == before[2]  # warm: nothing recomputed
    target = importlib.import_module(module)
    monkeypatch.setattr(target, "code_fingerprint", lambda *objs: "edited-code")
    after = keys()
    changed = {"harness.core.store": after[0] != before[0], "harness.core.scores": after[1] > before[1],
               "harness.report.bootstrap": after[2] != before[2]}
    assert changed[module]


def test_fingerprint_follows_the_source_and_its_imports(tmp_path):
    plugin = tmp_path / "plug.py"
    plugin.write_text("from harness.core import io\nX = 1\n")
    first = fingerprint.code_fingerprint(plugin)
    plugin.write_text("from harness.core import io\nX = 2\n")
    assert fingerprint.code_fingerprint(plugin) != first
    assert ROOT / "harness" / "core" / "io.py" in fingerprint._closure([plugin])  # what it imports counts


def test_scratch_eval_leaves_the_committed_results_byte_identical(tmp_path):
    module = tmp_path / "plug.py"
    module.write_text(textwrap.dedent('''
        import numpy as np
        from routers import register_router
        from routers.base import Router

        @register_router("first_model")
        class First(Router):
            def predict(self, items):
                out = np.zeros((len(items), len(self.models)))
                out[:, 0] = 1.0
                return out
    '''))
    before = _tree_digest(ROOT / "results")
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_RESULTS_DIR", "HARNESS_PUBLISH")}
    env.update(ROUTER_MODULE=str(module), HARNESS_SCRATCH_DIR=str(tmp_path / "scratch"))
    done = _eval(["--router", "first_model", "--benchmarks", "gsm8k,humaneval", "--resamples", "100"], env)
    assert done.returncode == 0, done.stderr
    assert _tree_digest(ROOT / "results") == before
    board = (tmp_path / "scratch" / "leaderboard.csv").read_text()
    assert "first_model" in board and "lookahead_mlm" in board  # beside the published rows
    run = next((tmp_path / "scratch" / "runs").glob("first_model__*.json")).read_text()
    assert hashlib.sha256(module.read_bytes()).hexdigest() in run  # the plug-in file is traceable


def test_predict_sees_prompts_only():
    data = RoutingData(uids=["gsm8k/7", "mbpp/3"], benchmarks=["gsm8k", "mbpp"], prompts=["a", "b"],
                       models=["m1", "m2"], responses=[["x", "y"], ["z", "w"]], scores=np.eye(2))
    shown = data.queries()
    assert shown.scores is None and shown.responses is None
    assert all("gsm8k" not in u and "mbpp" not in u for u in shown.uids)
    with pytest.raises(HarnessError, match="hidden"):
        list(shown.benchmarks)
    with pytest.raises(HarnessError, match="hidden"):
        shown.benchmarks[0]
    assert len(shown.subset([1]).benchmarks) == 1  # batching inside predict still works
    assert shown.prompts == ["a", "b"]
    assert data.queries(benchmark_label=True).benchmarks == ["gsm8k", "mbpp"]  # task_best's entitlement


def test_a_router_that_reads_labels_in_predict_gets_nothing(tmp_path):
    from harness.api import evaluate_router
    from routers.base import Router

    seen = {}

    class Snoop(Router):
        def predict(self, items):
            seen["uids"] = list(items.uids)
            try:
                seen["benchmarks"] = list(items.benchmarks)
            except HarnessError:
                seen["benchmarks"] = None
            seen["scores"] = items.scores
            return np.zeros((len(items), len(self.models)))

    evaluate_router(Snoop, pool="Yi-1.5-34B-Chat,Qwen2.5-Coder-7B-Instruct", benchmarks="humaneval,mbpp",
                    resamples=100)
    assert seen["benchmarks"] is None and seen["scores"] is None
    assert not any("humaneval" in u or "mbpp" in u or "HumanEval" in u for u in seen["uids"])


def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(tmp_path / "results"))
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 14
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    ev = namespace["ev"]
    assert set(ev.table.index) == {"humaneval", "gsm8k"} and len(ev.choices) == 164 + 1319
    assert ev.average[1] <= ev.average[0] <= ev.average[2]
    assert not (tmp_path / "results").exists()  # the API writes nothing unless asked
