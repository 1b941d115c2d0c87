"""Bad input, continued (issue 18): malformed records of every adapter and importer are one line
naming the file, the line or item, and the field; unknown question ids and duplicated lines are
errors, not silently dropped or overwritten; reference routers reject options; an import is all
or nothing."""
from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from benchmarks import get_benchmark
from harness.core import config
from harness.core.errors import HarnessError
from harness.grading import importers, staging
from routers import RouterContext, build_router
from tests.test_bad_input import assert_one_line_error, data_copy, run_cli  # noqa: F401 (fixture)
from tests.test_importers import cache_copy, metric  # noqa: F401 (fixture)

YI = "Yi-1.5-34B-Chat"
BAD = "Bad-Model"


# ---------------------------------------------------------------------------------------------
# a table of malformed records, read by each adapter (eval time)

def _read(path: Path) -> Any:
    text = gzip.decompress(path.read_bytes()).decode()
    return [json.loads(line) for line in text.splitlines()] if path.name.endswith(".jsonl.gz") else json.loads(text)


def _write(path: Path, obj: Any) -> None:
    text = "".join(json.dumps(r) + "\n" for r in obj) if path.name.endswith(".jsonl.gz") else json.dumps(obj)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a symlink into the real cache: replace it, never write through
    path.write_bytes(gzip.compress(text.encode()))


def put(*keys: Any, value: Any) -> Callable[[Any], Any]:
    """Set ``obj[k0][k1]...`` to ``value``."""
    def mutate(obj: Any) -> Any:
        target = obj
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        return obj
    return mutate


def drop(*keys: Any) -> Callable[[Any], Any]:
    def mutate(obj: Any) -> Any:
        target = obj
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
        return obj
    return mutate


def repeat(index: int) -> Callable[[list], list]:
    """Append a copy of row ``index``: a duplicated line."""
    return lambda rows: rows + [copy.deepcopy(rows[index])]


# (benchmark, which file: "items" or an index into model_files, mutation, fragments of the message)
CASES = [
    # MT-Bench judgments (JSONL: the line is named)
    ("mtbench", 0, put(2, "turn", value="x"), ["line 3", "'turn'", "'x'"]),
    ("mtbench", 0, put(2, "turn", value=None), ["line 3", "'turn'", "null"]),
    ("mtbench", 0, put(2, "turn", value=3), ["line 3", "'turn'", "1 or 2"]),
    ("mtbench", 0, put(4, "score", value=None), ["line 5", "'score'", "null"]),
    ("mtbench", 0, put(4, "score", value="high"), ["line 5", "'score'", "'high'"]),
    ("mtbench", 0, put(0, "user_prompt", value=None), ["line 1", "'user_prompt'"]),
    ("mtbench", 0, drop(1, "question_id"), ["line 2", "'question_id'"]),
    ("mtbench", 0, put(1, "question_id", value=[81]), ["line 2", "'question_id'"]),
    ("mtbench", 0, put(1, "question_id", value=999), ["line 2", "item 999", "not in"]),
    ("mtbench", 0, put(4, value=[1, 2]), ["line 5", "JSON object"]),
    ("mtbench", 0, repeat(0), ["line 161", "duplicate judgment", "line 1"]),
    # Arena-Hard judgments and answers
    ("arenahard", 0, put(6, "question_id", value="no-such-question"), ["line 7", "no-such-question", "not in"]),
    ("arenahard", 0, repeat(2), ["line 501", "duplicate judgment", "line 3"]),
    ("arenahard", 0, put(3, "games", value=None), ["line 4", "'games'", "null"]),
    ("arenahard", 0, put(3, "games", value=[]), ["line 4", "'games'"]),
    ("arenahard", 0, put(3, "games", 1, "score", value="A>>>B"), ["line 4", "'games[1]'", "'score'", "A>>>B"]),
    ("arenahard", 0, put(3, "games", 1, "score", value=["A>B"]), ["line 4", "'games[1]'", "'score'"]),
    ("arenahard", 0, put(3, "games", 0, value="A>B"), ["line 4", "'games[0]'", "'score'"]),
    ("arenahard", 1, put(5, "choices", value=[]), ["line 6", "'choices'"]),
    ("arenahard", 1, put(5, "choices", 0, "turns", value=[]), ["line 6", "'choices[0]'", "'turns'"]),
    ("arenahard", 1, put(5, "choices", 0, "turns", 0, "content", value=None), ["line 6", "'content'", "null"]),
    ("arenahard", 1, put(5, "question_id", value="no-such-question"), ["line 6", "no-such-question", "not in"]),
    ("arenahard", 1, repeat(0), ["line 501", "duplicate answer", "line 1"]),
    # AlpacaEval annotations (a JSON list: the item is its position)
    ("alpacaeval", 0, put(3, "preference", value="high"), ["item 3", "'preference'", "'high'"]),
    ("alpacaeval", 0, put(3, "preference", value=[1.5]), ["item 3", "'preference'"]),
    ("alpacaeval", 0, put(3, "output_2", value=None), ["item 3", "'output_2'", "null"]),
    ("alpacaeval", 0, put(3, value="not a record"), ["item 3", "JSON object"]),
    # OpenCompass: GSM8K/MATH results, HumanEval/MBPP predictions and results
    ("gsm8k", 0, put("details", "5", "correct", value="maybe"), ["item 5", "'correct'", "'maybe'"]),
    ("gsm8k", 0, put("details", "5", "correct", value=[True]), ["item 5", "'correct'"]),
    ("gsm8k", 0, put("details", "5", "origin_prediction", value=None), ["item 5", "'origin_prediction'"]),
    ("math", 0, put("details", "7", "prompt", value=7), ["item 7", "'prompt'"]),
    ("math", 0, put("details", "7", value="oops"), ["item 7", "JSON object"]),
    ("humaneval", 0, put("3", value=None), ["item 3", "JSON object"]),
    ("humaneval", 0, put("3", "prediction", value=None), ["item 3", "'prediction'"]),
    ("humaneval", 1, put("details", "3", "is_correct", value="yes"), ["item 3", "'is_correct'"]),
    ("humaneval", 1, put("details", "3", "completion", value=None), ["item 3", "'completion'"]),
    ("mbpp", 1, put("details", "9", "programs", value=None), ["item 9", "'programs'", "null"]),
    ("mbpp", 1, put("details", "9", "is_correct", value=None), ["item 9", "'is_correct'", "null"]),
    # item tables
    ("arenahard", "items", put(4, "turns", value=[]), ["line 5", "'turns'"]),
    ("arenahard", "items", repeat(4), ["line 501", "duplicate question", "line 5"]),
    ("mtbench", "items", put(4, "turns", value="one string"), ["line 5", "'turns'"]),
    ("mtbench", "items", put(4, "turns", 1, value=None), ["line 5", "'turns[1]'"]),
    ("mtbench", "items", put(4, "category", value=None), ["line 5", "'category'"]),
    ("alpacaeval", "items", put(6, "instruction", value=None), ["line 7", "'instruction'"]),
]


def _case_id(case: tuple) -> str:
    benchmark, target, _, fragments = case
    return f"{benchmark}-{target}-{fragments[-1]}"


@pytest.fixture
def fake_root(tmp_path):
    """A cache root holding one benchmark's real files as symlinks."""
    def make(adapter) -> Path:
        root = tmp_path / "compressed_data"
        for path in (config.cache_root() / "test" / adapter.folder).rglob("*"):
            if path.is_file():
                target = root / path.relative_to(config.cache_root())
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(path)
        return root
    return make


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_malformed_record_is_one_line(fake_root, case):
    benchmark, target, mutate, fragments = case
    adapter = get_benchmark(benchmark)
    root = fake_root(adapter)
    if target == "items":
        path = adapter.item_files(root)[0]
        _write(path, mutate(_read(path)))
        read = lambda: adapter.read_model(root, YI, adapter.read_items(root))  # noqa: E731
    else:
        for src, dst in zip(adapter.model_files(root, YI), adapter.model_files(root, BAD)):
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.resolve())
        path = adapter.model_files(root, BAD)[target]
        _write(path, mutate(_read(path)))
        read = lambda: adapter.read_model(root, BAD, adapter.read_items(root))  # noqa: E731
    with pytest.raises(HarnessError) as info:
        read()
    message = str(info.value)
    assert "\n" not in message
    for fragment in [str(path), *fragments]:
        assert fragment in message, message


# ---------------------------------------------------------------------------------------------
# the same, end to end through `eval`: exit code 2, one line, the board untouched

def _bad_candidate(data_copy: Path, benchmark: str, index: int, mutate) -> Path:
    adapter = get_benchmark(benchmark)
    for src, dst in zip(adapter.model_files(data_copy, YI), adapter.model_files(data_copy, BAD)):
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src.resolve())
    path = adapter.model_files(data_copy, BAD)[index]
    _write(path, mutate(_read(path)))
    return path


@pytest.mark.parametrize("benchmark,index,mutate,fragments", [
    ("mtbench", 0, put(2, "turn", value="x"), ["line 3", "'turn'"]),
    ("alpacaeval", 0, put(3, "preference", value="high"), ["item 3", "'preference'"]),
    ("arenahard", 1, put(5, "choices", value=[]), ["line 6", "'choices'"]),
    ("arenahard", 0, put(6, "question_id", value="no-such-question"), ["line 7", "no-such-question"]),
    ("arenahard", 0, repeat(2), ["line 501", "duplicate judgment"]),
], ids=["mtbench-turn", "alpacaeval-preference", "arenahard-choices", "arenahard-unknown-id", "arenahard-dup"])
def test_eval_names_the_bad_record(results_dir, data_copy, benchmark, index, mutate, fragments):
    path = _bad_candidate(data_copy, benchmark, index, mutate)
    proc = run_cli(results_dir, data_copy, "eval", "--router", "oracle", "--benchmarks", benchmark,
                   "--pool", f"{YI},{BAD}")
    assert_one_line_error(proc, results_dir, str(path), *fragments)


# ---------------------------------------------------------------------------------------------
# reference routers and options

def test_reference_router_rejects_an_option_cli(results_dir):
    proc = run_cli(results_dir, None, "eval", "--router", "oracle", "--benchmarks", "gsm8k", "--option", "k=3")
    assert_one_line_error(proc, results_dir, "router 'oracle'", "unknown option 'k'", "accepted options: none")


@pytest.mark.parametrize("name", ["random", "oracle", f"fixed:{YI}"])
def test_reference_routers_reject_options(name):
    with pytest.raises(HarnessError, match=f"router '{name}': unknown option 'epochs' \\(accepted options: none\\)"):
        build_router(name, RouterContext(models=[YI, "gemma-2-9b-it"], options={"epochs": "2"}))
    build_router(name, RouterContext(models=[YI, "gemma-2-9b-it"]))  # no option: fine


# ---------------------------------------------------------------------------------------------
# importers: the user's file, line/item and field; all or nothing

def _leftovers(root: Path, model: str) -> list[Path]:
    return [p for p in (root / "test").rglob(f"*{model}*")]


def test_opencompass_import_is_all_or_nothing(cache_copy, tmp_path):
    out = importers.export_opencompass(YI, tmp_path / "oc")
    math_file = out / "results" / YI / "math.json"  # the second benchmark of the import
    good = math_file.read_text()
    payload = json.loads(good)
    payload["details"]["7"]["correct"] = "maybe"
    math_file.write_text(json.dumps(payload))
    with pytest.raises(HarnessError) as info:
        importers.import_model("opencompass", out, "oc-atomic")
    message = str(info.value)
    assert str(math_file) in message and "item 7" in message and "'correct'" in message, message
    assert _leftovers(cache_copy, "oc-atomic") == []  # gsm8k was not committed before math failed
    math_file.write_text(good)  # corrected: the re-import succeeds (no "already exists")
    written = importers.import_model("opencompass", out, "oc-atomic")
    assert len(written) == 6
    for b in ("gsm8k", "math", "humaneval", "mbpp"):
        assert metric(b, "oc-atomic") == pytest.approx(metric(b, YI)), b


def test_lm_eval_import_is_all_or_nothing(cache_copy, tmp_path):
    importers.export_lm_eval(YI, tmp_path / "lm", "gsm8k")
    samples = importers.export_lm_eval(YI, tmp_path / "lm", "math")
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    rows[4]["doc"]["problem"] = "Not a MATH problem"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(HarnessError, match=r"line 5, item 4: question 'Not a MATH problem'"):
        importers.import_model("lm_eval", tmp_path / "lm", "lm-atomic")
    assert _leftovers(cache_copy, "lm-atomic") == []


def test_failed_move_is_rolled_back(tmp_path, monkeypatch):
    """A failure while moving the files of an import puts back what the cache held: a new file is
    removed (with the folders made for it), an overwritten file or symlink restored."""
    staged, cache = tmp_path / "staged", tmp_path / "cache"
    for name in ("a", "b", "c", "d"):
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        (staged / name).write_bytes(b"new " + name.encode())
    (cache / "old").mkdir(parents=True)
    (cache / "old" / "b").write_bytes(b"old b")
    (tmp_path / "elsewhere").write_bytes(b"link target")
    (cache / "old" / "c").symlink_to(tmp_path / "elsewhere")
    moves = [(staged / "a", cache / "new" / "deep" / "a"), (staged / "b", cache / "old" / "b"),
             (staged / "c", cache / "old" / "c"), (staged / "d", cache / "old" / "d")]
    real_write = staging.atomic_write_bytes

    def failing_write(path: Path, data: bytes) -> None:
        if path.name == "d":
            raise OSError("disk full")
        real_write(path, data)

    monkeypatch.setattr(staging, "atomic_write_bytes", failing_write)
    with pytest.raises(OSError, match="disk full"):
        staging._move_all(moves)
    assert not (cache / "new").exists()
    assert (cache / "old" / "b").read_bytes() == b"old b"
    assert (cache / "old" / "c").is_symlink() and (cache / "old" / "c").read_bytes() == b"link target"
    assert not (cache / "old" / "d").exists()
    assert (tmp_path / "elsewhere").read_bytes() == b"link target"


def _export_jsonl(path: Path, mutate) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in mutate(rows)))


@pytest.mark.parametrize("mutate,fragments", [
    (put(2, "turn", value="x"), ["line 3", "'turn'", "'x'"]),
    (put(4, "score", value=None), ["line 5", "'score'"]),
    (put(1, "question_id", value=999), ["line 2", "item 999", "not in"]),
    (repeat(0), ["line 161", "duplicate judgment"]),
    (put(4, value="not a record"), ["line 5", "JSON object"]),
], ids=["turn", "score-null", "unknown-id", "duplicate", "not-object"])
def test_mt_bench_import_names_the_users_line(cache_copy, tmp_path, mutate, fragments):
    path = importers.export_mt_bench(YI, tmp_path)
    _export_jsonl(path, mutate)
    with pytest.raises(HarnessError) as info:
        importers.import_model("mt_bench", path, "mt-bad")
    for fragment in [str(path), *fragments]:
        assert fragment in str(info.value), str(info.value)
    assert _leftovers(cache_copy, "mt-bad") == []


@pytest.mark.parametrize("kind,mutate,fragments", [
    ("model_answer", put(5, "choices", value=[]), ["line 6", "'choices'"]),
    ("model_judgment", repeat(2), ["line 501", "duplicate judgment"]),
    ("model_judgment", put(3, "games", 0, "score", value=["A>B"]), ["line 4", "'games[0]'", "'score'"]),
], ids=["choices-empty", "duplicate", "verdict-list"])
def test_arena_hard_import_names_the_users_line(cache_copy, tmp_path, kind, mutate, fragments):
    out = importers.export_arena_hard(YI, tmp_path)
    path = next((out / kind).rglob(f"{YI}.jsonl"))
    _export_jsonl(path, mutate)
    with pytest.raises(HarnessError) as info:
        importers.import_model("arena_hard", out, "ah-bad")
    for fragment in [str(path), *fragments]:
        assert fragment in str(info.value), str(info.value)


@pytest.mark.parametrize("mutate,fragments", [
    (put(3, "preference", value="high"), ["item 3", "'preference'", "'high'"]),
    (put(3, value=7), ["item 3", "JSON object"]),
    (lambda rows: rows + [copy.deepcopy(rows[0])], ["item 805", "duplicate annotation"]),
], ids=["preference", "not-object", "duplicate"])
def test_alpaca_eval_import_names_the_users_item(cache_copy, tmp_path, mutate, fragments):
    folder = importers.export_alpaca_eval(YI, tmp_path)
    ann = folder / importers.JUDGE_ALPACA / "annotations.json"
    ann.write_text(json.dumps(mutate(json.loads(ann.read_text()))))
    with pytest.raises(HarnessError) as info:
        importers.import_model("alpaca_eval", folder, "ae-bad")
    for fragment in [str(ann), *fragments]:
        assert fragment in str(info.value), str(info.value)
    assert _leftovers(cache_copy, "ae-bad") == []


@pytest.mark.parametrize("mutate,fragments", [
    (put(0, "doc", value=None), ["line 1", "'doc'"]),
    (put(0, "doc", "question", value=12), ["line 1", "'question'"]),
    (put(0, value=[1]), ["line 1", "JSON object"]),
], ids=["doc-null", "question-number", "not-object"])
def test_lm_eval_import_names_the_users_line(cache_copy, tmp_path, mutate, fragments):
    path = importers.export_lm_eval(YI, tmp_path, "gsm8k")
    _export_jsonl(path, mutate)
    with pytest.raises(HarnessError) as info:
        importers.import_model("lm_eval", path, "lm-bad")
    for fragment in [str(path), *fragments]:
        assert fragment in str(info.value), str(info.value)


@pytest.mark.parametrize("mutate,fragments", [
    (put(2, "solution", value=5), ["line 3", "'solution'"]),
    (drop(2, "task_id"), ["line 3", "'task_id'"]),
    (put(2, value=None), ["line 3", "JSON object"]),
], ids=["solution-number", "no-task-id", "not-object"])
def test_evalplus_import_names_the_users_line(cache_copy, tmp_path, mutate, fragments):
    path = importers.export_evalplus(YI, tmp_path, "humaneval")
    _export_jsonl(path, mutate)
    with pytest.raises(HarnessError) as info:
        importers.import_model("evalplus", path, "ep-bad")
    for fragment in [str(path), *fragments]:
        assert fragment in str(info.value), str(info.value)
