"""Importers of answers the harness re-grades itself: OpenCompass predictions, evalplus samples and
lm-evaluation-harness samples (math through math-verify, code in the sandbox), and their exporters.
Formats: :mod:`harness.grading.importers`."""
from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import read_json, write_json_gz

from benchmarks._fields import at_line, get, numbered_jsonl, text
from harness.grading import mbpp_ids
from harness.grading.staging import (EXPORT_DATASET, MATH_SUFFIX, OPENCOMPASS_DATASETS, Staging, _need, _one,
                                     _reference_details, _write_plain, check_missing, commit_all)


# ---------------------------------------------------------------------------------------------
# OpenCompass (the cache's own format)

def import_opencompass(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: an OpenCompass work dir (``results/<abbr>/<dataset>.json`` and ``predictions/...``);
    every known dataset found is imported (gsm8k, math, openai_humaneval, sanitized_mbpp)."""
    results_root = _need(path / "results", "OpenCompass results folder")
    abbr_dir = _one([d for d in results_root.iterdir() if d.is_dir()], "model folder", results_root, source)
    stagings: list[Staging] = []
    for file in sorted(abbr_dir.glob("*.json")):
        benchmark = OPENCOMPASS_DATASETS.get(file.stem)
        if benchmark is None:
            continue
        st = Staging(benchmark, model, force)
        stagings.append(st)
        # the files are the cache's own format: copied as they are, so the adapter's errors can
        # name the user's file and item
        if benchmark in ("gsm8k", "math"):
            write_json_gz(st.path(), read_json(file))
            st.copied(st.path(), file)
        else:
            pred = _need(path / "predictions" / abbr_dir.name / file.name, "OpenCompass predictions")
            write_json_gz(st.path(0), read_json(pred))
            write_json_gz(st.path(1), read_json(file))
            st.copied(st.path(0), pred)
            st.copied(st.path(1), file)
    if not stagings:
        raise HarnessError(f"{abbr_dir}: no result file of {', '.join(sorted(OPENCOMPASS_DATASETS))}")
    return commit_all(stagings)


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

def _sample_benchmark(task_id: str, where: str = "") -> str:
    if task_id.startswith("HumanEval/"):
        return "humaneval"
    if task_id.lower().startswith("mbpp/"):
        return "mbpp"
    raise HarnessError(f"{where + ': ' if where else ''}task_id {task_id!r}: expected HumanEval/<n> or Mbpp/<task id>")


def _sample(row: object, where: str) -> tuple[str, dict]:
    """(task id, the row) of one evalplus sample; its program is a string ``solution`` or
    ``completion``."""
    tid = text(row, "task_id", where)
    where = f"{where}, item {tid}"
    code = [name for name in ("solution", "completion") if get(row, name, where, default=None) is not None]
    if not code:
        raise HarnessError(f"{where}: missing field 'solution' (or 'completion')")
    for name in code:
        text(row, name, where)
    return tid, row


def _positions_by_task(benchmark: str, preds: dict) -> dict[str, str]:
    """evalplus task id -> cache position. HumanEval: the cached ``gold`` is the task id; MBPP: the
    original MBPP task id (``Mbpp/11``), mapped through the cache's sanitized order (mbpp_ids)."""
    if benchmark == "humaneval":
        return {str(preds[p].get("gold")): p for p in preds}
    return {mbpp_ids.evalplus_id(p): p for p in preds}


def _canonical(benchmark: str, tid: str) -> str:
    """``Mbpp/011`` and ``mbpp/11`` are ``Mbpp/11``; other ids as written."""
    number = mbpp_ids.task_number(tid) if benchmark == "mbpp" else None
    return tid if number is None else f"Mbpp/{number}"


def import_evalplus(path: Path, model: str, *, source: str | None = None, force: bool = False,
                    allow_missing: int = 0) -> list[Path]:
    """``path``: evalplus samples JSONL ({task_id, solution} or {task_id, completion}), ids as evalplus
    writes them (``HumanEval/0``, ``Mbpp/11``). The first sample of each task is graded (pass@1).
    Tasks the cache lacks (MBPP+ also has MBPP's other splits) are skipped and counted; up to
    ``allow_missing`` cache items without a sample are left out (pools naming the model drop them)."""
    from harness.grading.regrade import run_programs

    rows = [_sample(r, at_line(path, lineno)) for lineno, r in numbered_jsonl(_need(path, "evalplus samples"))]
    if not rows:
        raise HarnessError(f"{path}: no samples")
    benchmark = _sample_benchmark(rows[0][0], str(path))
    results, preds = _reference_details(benchmark)
    position_of = _positions_by_task(benchmark, preds)
    first: dict[str, dict] = {}  # cache position -> first sample
    outside: list[str] = []
    for tid, r in rows:
        if _sample_benchmark(tid, str(path)) != benchmark:
            raise HarnessError(f"{path}: item {tid}: mixes benchmarks; one file per benchmark")
        pos = position_of.get(_canonical(benchmark, tid))
        if pos is None:
            outside.append(tid)
        else:
            first.setdefault(pos, r)
    if outside:
        print(f"import: {len(set(outside))} tasks of {path.name} are not among the cache's {len(preds)} "
              f"{benchmark} items (first: {outside[0]}); skipped")
    positions = sorted(preds, key=int)
    task_of = {p: t for t, p in position_of.items()}
    missing = [p for p in positions if p not in first]
    check_missing(path, [task_of[p] for p in missing], len(positions), allow_missing, "sample")
    kept = [p for p in positions if p in first]
    programs, codes = _evalplus_programs(benchmark, kept, first, preds, path, task_of)
    runs = run_programs(programs)
    out_preds, details = {}, {}
    for p, code, prog, (ok, why) in zip(kept, codes, programs, runs):
        out_preds[p] = {"origin_prompt": preds[p]["origin_prompt"], "prediction": code, "gold": preds[p]["gold"]}
        rec = {"is_correct": bool(ok), "result": "passed" if ok else why}
        rec.update({"task_id": task_of[p], "completion": code} if benchmark == "humaneval" else {"programs": prog})
        details[p] = rec
    for p in missing:  # placeholders the adapter skips: the item leaves every pool naming the model
        out_preds[p] = {"origin_prompt": preds[p]["origin_prompt"], "prediction": "", "gold": preds[p]["gold"]}
        details[p] = {"is_correct": False, "result": "no sample", "omitted": True,
                      **({"task_id": task_of[p], "completion": ""} if benchmark == "humaneval" else {"programs": ""})}
    score = 100.0 * sum(r[0] for r in runs) / len(runs)
    st = Staging(benchmark, model, force)
    write_json_gz(st.path(0), {p: out_preds[p] for p in positions})
    write_json_gz(st.path(1), {("humaneval_pass@1" if benchmark == "humaneval" else "score"): score,
                               "details": {p: details[p] for p in positions}, "graded_by": "routing-harness sandbox"})
    return st.commit()


def _evalplus_programs(benchmark: str, kept: list[str], first: dict[str, dict], preds: dict, path: Path,
                       task_of: dict[str, str]) -> tuple[list[str], list[str]]:
    """(program to run, the model's code) per kept position: HumanEval's own test, MBPP's asserts."""
    from harness.grading.regrade import humaneval_problems

    problems = humaneval_problems() if benchmark == "humaneval" else {}
    programs, codes, strangers = [], [], []
    for p in kept:
        s = first[p]
        if benchmark == "humaneval":
            pr = problems[task_of[p]]
            code = s.get("solution") or pr["prompt"] + str(s.get("completion", ""))
            programs.append(f"{code}\n\n{pr['test']}\n\ncheck({pr['entry_point']})\n")
        else:
            code = s.get("solution") or str(s.get("completion", ""))
            programs.append(code + "\n" + preds[p]["gold"])
            if not _defines_tested_function(code, preds[p]["gold"]):
                strangers.append(task_of[p])
        codes.append(code)
    if kept and len(strangers) > len(kept) / 2:  # ids that name other problems (e.g. positions)
        raise HarnessError(f"{path}: {len(strangers)} of {len(kept)} samples do not define the function their "
                           f"task's asserts call (first: {strangers[0]}); the ids must be MBPP task ids as "
                           "evalplus writes them (Mbpp/11 ... Mbpp/479 for the cache's items)")
    return programs, codes


def _defines_tested_function(code: str, asserts: str) -> bool:
    """Whether ``code`` defines (or assigns) a name the asserts call that is not a builtin."""
    try:
        tree = ast.parse(asserts)
    except SyntaxError:
        return True  # nothing to check against
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and not hasattr(builtins, n.func.id)}
    return not called or any(re.search(rf"\b(def|class)\s+{re.escape(name)}\b|\b{re.escape(name)}\s*=", code)
                             for name in called)


def export_evalplus(model: str, out: Path, benchmark: str) -> Path:
    """One JSONL of samples with self-contained ``solution``s, ids as evalplus writes them (HumanEval:
    prompt + completion; MBPP: the program without the benchmark's asserts, ``Mbpp/<task id>``)."""
    from benchmarks import get_benchmark
    from harness.grading.regrade import humaneval_problems

    pred_file, res_file = get_benchmark(benchmark).model_files(config.cache_root(), model)
    preds, results = read_json(pred_file), read_json(res_file)["details"]
    rows = []
    for p in sorted(results, key=int):
        if benchmark == "humaneval":
            tid = results[p]["task_id"]
            rows.append({"task_id": tid, "solution": humaneval_problems()[tid]["prompt"] + results[p]["completion"]})
        else:
            prog, gold = results[p]["programs"], preds[p]["gold"]
            rows.append({"task_id": mbpp_ids.evalplus_id(p),
                         "solution": prog[:-len(gold) - 1] if prog.endswith("\n" + gold) else prog})
    dest = out / f"{benchmark}_samples.jsonl"
    _write_plain(dest, rows, jsonl=True)
    return dest


# ---------------------------------------------------------------------------------------------
# lm-evaluation-harness --log_samples (math re-graded by math-verify, code in the sandbox)

def import_lm_eval(path: Path, model: str, *, source: str | None = None, force: bool = False,
                   allow_missing: int = 0) -> list[Path]:
    """``path``: ``samples_<task>_<time>.jsonl`` files of gsm8k / minerva_math / hendrycks_math /
    humaneval / mbpp tasks (issue 25: :mod:`harness.grading.import_lmeval`)."""
    from harness.grading.import_lmeval import import_lm_eval_samples

    return import_lm_eval_samples(path, model, source=source, force=force, allow_missing=allow_missing)


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
