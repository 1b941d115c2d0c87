"""New candidates from the field's own output formats, and exporters for the round-trip test.

An importer reads one tool's native output for one model and writes it into the cache folder in
the format the benchmark adapters already read (so the model can be named in ``POOL=``):

| format       | reads                                                        | writes (test/...)            |
|--------------|--------------------------------------------------------------|------------------------------|
| alpaca_eval  | results/<m>/model_outputs.json + <annotator>/annotations.json | AlpacaEval/<M>/...           |
| arena_hard   | model_answer/<m>.jsonl + model_judgment/<judge>/<m>.jsonl     | ArenaHard/model_{answer,judgment}/<M> |
| mt_bench     | FastChat model_judgment/<judge>_single.jsonl                  | MT-Bench/judgments/...<M>... |
| opencompass  | predictions/<m>/<dataset>.json + results/<m>/<dataset>.json   | GSM8k, MATH, HumanEval, MBPP |
| evalplus     | samples.jsonl {task_id, solution|completion}, graded here     | HumanEval or MBPP            |
| lm_eval      | samples_<task>_*.jsonl of gsm8k / minerva_math / hendrycks_math, re-graded | GSM8k or MATH  |

Every file is staged, read back through the benchmark's own adapter against the item table, and
only then moved into the cache. Imported files are not in the data manifest, so they are used
unverified (by design). Items are matched by the benchmark's own ids (question_id, instruction,
task_id) or, for lm-eval, by the question text.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from harness import config
from harness.errors import HarnessError
from harness.io import atomic_write_bytes, read_json, read_jsonl

JUDGE_ALPACA = "weighted_alpaca_eval_gpt4_turbo"
JUDGE_ARENA = "gpt-4-1106-preview"
JUDGE_MTBENCH = "gpt-4-0125-preview"
MATH_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}.\n"
OPENCOMPASS_DATASETS = {"gsm8k": "gsm8k", "math": "math", "openai_humaneval": "humaneval",
                        "humaneval": "humaneval", "sanitized_mbpp": "mbpp", "mbpp": "mbpp"}
EXPORT_DATASET = {"gsm8k": "gsm8k", "math": "math", "humaneval": "openai_humaneval", "mbpp": "sanitized_mbpp"}
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$")


# ---------------------------------------------------------------------------------------------
# small helpers

def write_json_gz(path: Path, obj: Any) -> None:
    text = json.dumps(obj, ensure_ascii=False)
    atomic_write_bytes(path, gzip.compress(text.encode("utf-8"), mtime=0))


def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    atomic_write_bytes(path, gzip.compress(text.encode("utf-8"), mtime=0))


def _write_plain(path: Path, obj: Any, jsonl: bool = False) -> None:
    from harness.io import atomic_write_text

    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in obj) if jsonl \
        else json.dumps(obj, ensure_ascii=False, indent=1)
    atomic_write_text(path, text)


def _read_any(path: Path) -> Any:
    """JSON or JSONL (plain or .gz), by content."""
    name = path.name.removesuffix(".gz")
    return read_jsonl(path) if name.endswith(".jsonl") else read_json(path)


def check_model_name(model: str) -> str:
    if not model or not _MODEL_NAME.match(model):
        raise HarnessError(f"MODEL={model!r}: use letters, digits and . _ + - only (it becomes a file "
                           "name and a POOL entry)")
    return model


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise HarnessError(f"{path}: not found ({what})")
    return path


def _one(paths: list[Path], what: str, where: Path, prefer: str | None = None) -> Path:
    if prefer is not None:
        match = [p for p in paths if p.name.split(".")[0] == prefer or p.name == prefer]
        if match:
            return match[0]
    if len(paths) != 1:
        names = ", ".join(sorted(p.name for p in paths)) or "none"
        raise HarnessError(f"{where}: expected one {what}, found {names}; name it with SOURCE=")
    return paths[0]


def _items(benchmark: str):
    from benchmarks import get_benchmark
    from harness import data, store

    data.ensure()
    adapter = get_benchmark(benchmark)
    return adapter, store.read_items(adapter)


def _reference_details(benchmark: str) -> tuple[dict, dict | None]:
    """The table model's OpenCompass files (results, predictions): prompts, references, gold."""
    adapter, _ = _items(benchmark)
    root = config.cache_root()
    files = adapter.model_files(root, adapter._table_model(root))
    results = read_json(files[-1])
    preds = read_json(files[0]) if len(files) == 2 else None
    return results, preds


# ---------------------------------------------------------------------------------------------
# staging: write, validate through the adapter, then move into the cache

_OPEN: list[Path] = []  # staging folders of the import in progress, removed whatever happens


class Staging:
    def __init__(self, benchmark: str, model: str, force: bool):
        self.adapter, self.items = _items(benchmark)
        self.benchmark, self.model, self.force = benchmark, check_model_name(model), force
        self.root = Path(tempfile.mkdtemp(prefix="rh-import-"))
        _OPEN.append(self.root)

    def path(self, index: int = -1) -> Path:
        return self.adapter.model_files(self.root, self.model)[index]

    def commit(self) -> list[Path]:
        try:
            real = config.cache_root()
            if self.model in self.adapter.models(real) and not self.force:
                raise HarnessError(f"model '{self.model}' already exists for {self.benchmark} in {real}; "
                                   "choose another MODEL or pass --force")
            records = self.adapter.read_model(self.root, self.model, self.items)  # validates
            if not records.ids:
                raise HarnessError(f"{self.benchmark}: the import holds no item of the benchmark")
            written = []
            for src in self.adapter.model_files(self.root, self.model):
                dst = real / src.relative_to(self.root)
                atomic_write_bytes(dst, src.read_bytes())
                written.append(dst)
            from harness import store

            store.clear_memo()
            return written
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# alpaca_eval

def import_alpaca_eval(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: alpaca_eval's results/<model> folder (or results/ with SOURCE=)."""
    folder = path
    if not (folder / "model_outputs.json").exists() and not list(folder.glob("*/annotations.json*")):
        folder = _one([p for p in path.iterdir() if p.is_dir()], "model folder", path, source)
    ann_files = sorted(folder.glob(f"{JUDGE_ALPACA}/annotations.json*")) or sorted(folder.glob("*/annotations.json*"))
    if not ann_files:
        raise HarnessError(f"{folder}: no <annotator>/annotations.json; judge the outputs first "
                           "(harness.judge.judge_alpacaeval) or run alpaca_eval")
    if JUDGE_ALPACA not in str(ann_files[0]):
        print(f"import: warning: annotations by {ann_files[0].parent.name}, not {JUDGE_ALPACA}; "
              "win rates are not comparable with the cache's")
    rows = _read_any(ann_files[0])
    st = Staging("alpacaeval", model, force)
    order = {p: i for i, p in enumerate(st.items.prompts)}
    placed: list[dict | None] = [None] * len(order)
    for i, row in enumerate(rows):
        inst = row.get("instruction")
        if inst not in order:
            raise HarnessError(f"{ann_files[0]}: item {i}: instruction is not one of AlpacaEval's 805")
        placed[order[inst]] = dict(row, generator_2=st.model)
    missing = [i for i, r in enumerate(placed) if r is None]
    if missing:
        raise HarnessError(f"{ann_files[0]}: {len(missing)} of 805 instructions have no annotation "
                           f"(first: item {missing[0]}); the LC win rate needs all of them")
    write_json_gz(st.path(), placed)
    outputs = folder / "model_outputs.json"
    outs = _read_any(outputs) if outputs.exists() else \
        [{"instruction": r["instruction"], "output": r.get("output_2", ""), "generator": st.model} for r in placed]
    write_json_gz(st.root / "test" / "AlpacaEval" / st.model / "model_outputs.json.gz",
                  [dict(o, generator=st.model) for o in outs])
    written = st.commit()
    real = config.cache_root() / "test" / "AlpacaEval" / st.model / "model_outputs.json.gz"
    write_json_gz(real, [dict(o, generator=st.model) for o in outs])
    return written + [real]


def export_alpaca_eval(model: str, out: Path) -> Path:
    src = config.cache_root() / "test" / "AlpacaEval" / model
    dest = out / "results" / model
    _write_plain(dest / "model_outputs.json", read_json(_need(src / "model_outputs.json.gz", "outputs")))
    _write_plain(dest / JUDGE_ALPACA / "annotations.json",
                 read_json(_need(src / JUDGE_ALPACA / "annotations.json.gz", "annotations")))
    return dest


# ---------------------------------------------------------------------------------------------
# arena-hard-auto

def import_arena_hard(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: arena-hard-auto's data/<bench> folder with model_answer/ and model_judgment/<judge>/."""
    answers = _one(sorted(_need(path / "model_answer", "arena-hard-auto answers").glob("*.jsonl*")),
                   "answer file", path / "model_answer", source)
    src_name = answers.name.split(".jsonl")[0]
    judge_dirs = [d for d in _need(path / "model_judgment", "arena-hard-auto judgments").iterdir() if d.is_dir()]
    judge_dir = _one(judge_dirs, "judge folder", path / "model_judgment", JUDGE_ARENA)
    if judge_dir.name != JUDGE_ARENA:
        print(f"import: warning: judged by {judge_dir.name}, not {JUDGE_ARENA}; not comparable with the cache")
    judgments = _need(next(iter(sorted(judge_dir.glob(f"{src_name}.jsonl*"))), judge_dir / f"{src_name}.jsonl"),
                      f"judgments of {src_name}")
    st = Staging("arenahard", model, force)
    known = set(st.items.ids)
    ans_rows = [dict(r, model_id=st.model) for r in read_jsonl(answers)]
    jud_rows = [dict(r, model=st.model) for r in read_jsonl(judgments)]
    for rows, f in ((ans_rows, answers), (jud_rows, judgments)):
        bad = [str(r.get("question_id")) for r in rows if str(r.get("question_id")) not in known]
        if bad:
            raise HarnessError(f"{f}: item {bad[0]}: not an Arena-Hard v0.1 question ({len(bad)} such)")
    write_jsonl_gz(st.path(0), jud_rows)
    write_jsonl_gz(st.path(1), ans_rows)
    return st.commit()


def export_arena_hard(model: str, out: Path) -> Path:
    src = config.cache_root() / "test" / "ArenaHard"
    _write_plain(out / "model_answer" / f"{model}.jsonl",
                 read_jsonl(_need(src / "model_answer" / f"{model}.jsonl.gz", "answers")), jsonl=True)
    _write_plain(out / "model_judgment" / JUDGE_ARENA / f"{model}.jsonl",
                 read_jsonl(_need(src / "model_judgment" / f"{model}.jsonl.gz", "judgments")), jsonl=True)
    return out


# ---------------------------------------------------------------------------------------------
# FastChat mt_bench

def import_mt_bench(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: a FastChat ``model_judgment/<judge>_single.jsonl`` (or the folder holding it)."""
    file = path if path.is_file() else _one(sorted(path.glob("**/*_single.jsonl*")), "single-grading file", path)
    rows = read_jsonl(file)
    models = sorted({str(r.get("model")) for r in rows})
    src = source or (model if model in models else (models[0] if len(models) == 1 else None))
    if src not in models:
        raise HarnessError(f"{file}: holds models {', '.join(models)}; name one with SOURCE=")
    judges = {str(r.get("judge")) for r in rows if r.get("model") == src}
    if not all(JUDGE_MTBENCH in j for j in judges):
        print(f"import: warning: judged by {', '.join(sorted(judges))}, not {JUDGE_MTBENCH}; "
              "scores are not comparable with the cache's")
    st = Staging("mtbench", model, force)
    picked = [dict(r, model=st.model) for r in rows if r.get("model") == src]
    turns = {(str(r.get("question_id")), int(r.get("turn", 0))) for r in picked}
    lacking = [q for q in st.items.ids if (q, 1) not in turns or (q, 2) not in turns]
    if lacking:
        print(f"import: warning: {len(lacking)} questions lack a turn (first: {lacking[0]}); they are dropped")
    write_jsonl_gz(st.path(), picked)
    return st.commit()


def export_mt_bench(model: str, out: Path) -> Path:
    from benchmarks.mtbench import JUDGE_PREFIX

    src = config.cache_root() / "test" / "MT-Bench" / "judgments" / f"{JUDGE_PREFIX}{model}_single.jsonl.gz"
    rows = []
    for r in read_jsonl(_need(src, "judgments")):
        judge = r.get("judge")
        rows.append(dict(r, question_id=int(r["question_id"]), turn=int(r["turn"]), score=float(r["score"]),
                         judge=json.loads(judge.replace("'", '"')) if isinstance(judge, str) else judge))
    dest = out / "model_judgment" / f"{JUDGE_MTBENCH}_single.jsonl"
    _write_plain(dest, rows, jsonl=True)
    return dest


# ---------------------------------------------------------------------------------------------
# OpenCompass (the cache's own format)

def import_opencompass(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: an OpenCompass work dir (``results/<abbr>/<dataset>.json`` and ``predictions/...``);
    every known dataset found is imported (gsm8k, math, openai_humaneval, sanitized_mbpp)."""
    results_root = _need(path / "results", "OpenCompass results folder")
    abbr_dir = _one([d for d in results_root.iterdir() if d.is_dir()], "model folder", results_root, source)
    written: list[Path] = []
    found = False
    for file in sorted(abbr_dir.glob("*.json")):
        benchmark = OPENCOMPASS_DATASETS.get(file.stem)
        if benchmark is None:
            continue
        found = True
        st = Staging(benchmark, model, force)
        results = read_json(file)
        if benchmark in ("gsm8k", "math"):
            write_json_gz(st.path(), results)
        else:
            pred = _need(path / "predictions" / abbr_dir.name / file.name, "OpenCompass predictions")
            write_json_gz(st.path(0), read_json(pred))
            write_json_gz(st.path(1), results)
        written += st.commit()
    if not found:
        raise HarnessError(f"{abbr_dir}: no result file of {', '.join(sorted(OPENCOMPASS_DATASETS))}")
    return written


def export_opencompass(model: str, out: Path, benchmarks=("gsm8k", "math", "humaneval", "mbpp")) -> Path:
    from benchmarks import get_benchmark

    root = config.cache_root()
    for b in benchmarks:
        files = get_benchmark(b).model_files(root, model)
        name = EXPORT_DATASET[b] + ".json"
        _write_plain(out / "results" / model / name, read_json(files[-1]))
        if len(files) == 2:
            _write_plain(out / "predictions" / model / name, read_json(files[0]))
    return out


# ---------------------------------------------------------------------------------------------
# evalplus samples (graded by the sandbox)

def _sample_benchmark(task_id: str) -> str:
    if task_id.startswith("HumanEval/"):
        return "humaneval"
    if task_id.lower().startswith("mbpp/"):
        return "mbpp"
    raise HarnessError(f"task_id {task_id!r}: expected HumanEval/<n> or Mbpp/<position>")


def import_evalplus(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: evalplus samples JSONL ({task_id, solution} or {task_id, completion}). The first
    sample of each task is graded (pass@1). MBPP ids are ``Mbpp/<position>`` in the cache's
    sanitized-257 order, as the cache holds no MBPP task id; HumanEval ids are its own."""
    from harness.regrade import humaneval_problems, run_programs

    rows = read_jsonl(_need(path, "evalplus samples"))
    if not rows:
        raise HarnessError(f"{path}: no samples")
    benchmark = _sample_benchmark(str(rows[0].get("task_id")))
    first: dict[str, dict] = {}
    for r in rows:
        tid = str(r.get("task_id"))
        if _sample_benchmark(tid) != benchmark:
            raise HarnessError(f"{path}: item {tid}: mixes benchmarks; one file per benchmark")
        first.setdefault(tid.split("/", 1)[1] if benchmark == "mbpp" else tid, r)
    results, preds = _reference_details(benchmark)
    st = Staging(benchmark, model, force)
    positions = sorted(preds, key=int)
    key_of = {p: (preds[p].get("gold") if benchmark == "humaneval" else p) for p in positions}
    missing = [key_of[p] for p in positions if key_of[p] not in first]
    if missing:
        raise HarnessError(f"{path}: no sample for {len(missing)} items (first: {missing[0]}); "
                           "the OpenCompass layout needs every item")
    problems = humaneval_problems() if benchmark == "humaneval" else {}
    programs, codes = [], []
    for p in positions:
        s = first[key_of[p]]
        if benchmark == "humaneval":
            pr = problems[key_of[p]]
            code = s.get("solution") or pr["prompt"] + str(s.get("completion", ""))
            programs.append(f"{code}\n\n{pr['test']}\n\ncheck({pr['entry_point']})\n")
        else:
            code = s.get("solution") or str(s.get("completion", ""))
            programs.append(code + "\n" + preds[p]["gold"])
        codes.append(code)
    runs = run_programs(programs)
    out_preds, details = {}, {}
    for p, code, prog, (ok, why) in zip(positions, codes, programs, runs):
        out_preds[p] = {"origin_prompt": preds[p]["origin_prompt"], "prediction": code, "gold": preds[p]["gold"]}
        rec = {"is_correct": bool(ok), "result": "passed" if ok else why}
        rec.update({"task_id": key_of[p], "completion": code} if benchmark == "humaneval" else {"programs": prog})
        details[p] = rec
    score = 100.0 * sum(r[0] for r in runs) / len(runs)
    write_json_gz(st.path(0), out_preds)
    write_json_gz(st.path(1), {("humaneval_pass@1" if benchmark == "humaneval" else "score"): score,
                               "details": details, "graded_by": "routing-harness sandbox"})
    return st.commit()


def export_evalplus(model: str, out: Path, benchmark: str) -> Path:
    """One JSONL of samples with self-contained ``solution``s (HumanEval: prompt + completion;
    MBPP: the program without the benchmark's asserts)."""
    from benchmarks import get_benchmark
    from harness.regrade import humaneval_problems

    pred_file, res_file = get_benchmark(benchmark).model_files(config.cache_root(), model)
    preds, results = read_json(pred_file), read_json(res_file)["details"]
    rows = []
    for p in sorted(results, key=int):
        if benchmark == "humaneval":
            tid = results[p]["task_id"]
            rows.append({"task_id": tid, "solution": humaneval_problems()[tid]["prompt"] + results[p]["completion"]})
        else:
            prog, gold = results[p]["programs"], preds[p]["gold"]
            rows.append({"task_id": f"Mbpp/{p}",
                         "solution": prog[:-len(gold) - 1] if prog.endswith("\n" + gold) else prog})
    dest = out / f"{benchmark}_samples.jsonl"
    _write_plain(dest, rows, jsonl=True)
    return dest


# ---------------------------------------------------------------------------------------------
# lm-evaluation-harness --log_samples (re-graded by math-verify)

LM_EVAL_TASKS = (("gsm8k", "gsm8k", "question"), ("minerva_math", "math", "problem"),
                 ("hendrycks_math", "math", "problem"))


def _norm_text(s: str) -> str:
    return " ".join(s.split())


def _lm_eval_files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(path.glob("**/samples_*.jsonl*"))


def _lm_eval_task(file: Path) -> tuple[str, str]:
    task = file.name.removeprefix("samples_")
    for prefix, benchmark, key in LM_EVAL_TASKS:
        if task.startswith(prefix):
            return benchmark, key
    raise HarnessError(f"{file}: task is not gsm8k, minerva_math or hendrycks_math")


def _response(row: dict, file: Path) -> str:
    resps = row.get("resps")
    while isinstance(resps, list) and resps:
        resps = resps[0]
    if not isinstance(resps, str):
        raise HarnessError(f"{file}: item {row.get('doc_id')}: no response text in 'resps'")
    return resps


def import_lm_eval(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: one ``samples_<task>_<time>.jsonl`` or a folder of them (MATH comes as seven
    subject files). Items are matched to the cache by question text; answers are re-graded with
    math-verify against the cache's references."""
    from harness.regrade import extract_answer, grade_math_answers

    files = _lm_eval_files(_need(path, "lm-eval samples"))
    if not files:
        raise HarnessError(f"{path}: no samples_*.jsonl files")
    by_bench: dict[str, list[tuple[str, str, Path]]] = {}
    for f in files:
        benchmark, key = _lm_eval_task(f)
        for row in read_jsonl(f):
            doc = row.get("doc") or {}
            if key not in doc:
                raise HarnessError(f"{f}: item {row.get('doc_id')}: doc has no '{key}'")
            by_bench.setdefault(benchmark, []).append((_norm_text(doc[key]), _response(row, f), f))
    written: list[Path] = []
    for benchmark, samples in by_bench.items():
        results, _ = _reference_details(benchmark)
        details = results["details"]
        positions = sorted(details, key=int)
        where: dict[str, list[str]] = {}
        for p in positions:
            from benchmarks._opencompass import human_turn

            text = human_turn(details[p]["prompt"])
            where.setdefault(_norm_text(text.removesuffix(MATH_SUFFIX)), []).append(p)
        answer: dict[str, str] = {}
        for text, resp, f in samples:
            slots = [p for p in where.get(text, []) if p not in answer]
            if not slots:
                raise HarnessError(f"{f}: question {text[:60]!r} is not in the cache's {benchmark} items")
            answer[slots[0]] = resp
        missing = [p for p in positions if p not in answer]
        if missing:
            raise HarnessError(f"{path}: {benchmark}: no sample for {len(missing)} items (first: position "
                               f"{missing[0]}); the OpenCompass layout needs every item")
        refs = [str(details[p]["references"]) for p in positions]
        graded = grade_math_answers(benchmark, [answer[p] for p in positions], refs)
        st = Staging(benchmark, model, force)
        out = {p: {"prompt": details[p]["prompt"], "origin_prediction": answer[p],
                   "predictions": extract_answer(answer[p], benchmark)[0] or g[1], "references": ref,
                   "correct": bool(g[0])} for p, ref, g in zip(positions, refs, graded)}
        write_json_gz(st.path(), {"accuracy": 100.0 * sum(g[0] for g in graded) / len(graded),
                                  "details": out, "type": "GEN", "graded_by": "math-verify (routing-harness)"})
        written += st.commit()
    return written


def export_lm_eval(model: str, out: Path, benchmark: str) -> Path:
    from benchmarks import get_benchmark
    from benchmarks._opencompass import human_turn

    details = read_json(get_benchmark(benchmark).model_files(config.cache_root(), model)[0])["details"]
    task, key = ("gsm8k", "question") if benchmark == "gsm8k" else ("minerva_math", "problem")
    rows = []
    for p in sorted(details, key=int):
        d = details[p]
        doc = {key: human_turn(d["prompt"]).removesuffix(MATH_SUFFIX), "answer": d["references"]}
        rows.append({"doc_id": int(p), "doc": doc, "target": d["references"],
                     "arguments": [[doc[key], {"until": []}]], "resps": [[d["origin_prediction"]]],
                     "filtered_resps": [d["origin_prediction"]], "exact_match": float(bool(d["correct"]))})
    dest = out / f"samples_{task}_2025-01-01T00-00-00.jsonl"
    _write_plain(dest, rows, jsonl=True)
    return dest


IMPORTERS: dict[str, Callable[..., list[Path]]] = {
    "alpaca_eval": import_alpaca_eval, "arena_hard": import_arena_hard, "mt_bench": import_mt_bench,
    "opencompass": import_opencompass, "evalplus": import_evalplus, "lm_eval": import_lm_eval,
}


def import_model(fmt: str, path: str | os.PathLike, model: str, *, source: str | None = None,
                 force: bool = False) -> list[Path]:
    key = fmt.replace("-", "_").lower()
    if key not in IMPORTERS:
        raise HarnessError(f"FORMAT={fmt}: expected one of {', '.join(IMPORTERS)}")
    if not path:
        raise HarnessError("FILE= (the tool's output file or folder) is required")
    p = Path(path)
    if not p.exists():
        raise HarnessError(f"{p}: not found (FILE=)")
    try:
        return IMPORTERS[key](p, model, source=source, force=force)
    finally:
        while _OPEN:
            shutil.rmtree(_OPEN.pop(), ignore_errors=True)
