"""Importers of answers the harness re-grades itself: OpenCompass predictions, evalplus samples and
lm-evaluation-harness samples (math through math-verify, code in the sandbox), and their exporters.
Formats: :mod:`harness.grading.importers`."""
from __future__ import annotations

from pathlib import Path

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import read_json, write_json_gz

from benchmarks._fields import at_line, get, numbered_jsonl, record, text
from harness.grading.staging import (EXPORT_DATASET, MATH_SUFFIX, OPENCOMPASS_DATASETS, Staging, _need, _one,
                                     _reference_details, _write_plain, commit_all)


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
    raise HarnessError(f"{where + ': ' if where else ''}task_id {task_id!r}: expected HumanEval/<n> or Mbpp/<position>")


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


def import_evalplus(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: evalplus samples JSONL ({task_id, solution} or {task_id, completion}). The first
    sample of each task is graded (pass@1). MBPP ids are ``Mbpp/<position>`` in the cache's
    sanitized-257 order, as the cache holds no MBPP task id; HumanEval ids are its own."""
    from harness.grading.regrade import humaneval_problems, run_programs

    rows = [_sample(r, at_line(path, lineno)) for lineno, r in numbered_jsonl(_need(path, "evalplus samples"))]
    if not rows:
        raise HarnessError(f"{path}: no samples")
    benchmark = _sample_benchmark(rows[0][0], str(path))
    first: dict[str, dict] = {}
    for tid, r in rows:
        if _sample_benchmark(tid, str(path)) != benchmark:
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


def _response(row: dict, where: str) -> str:
    resps = row.get("resps")
    while isinstance(resps, list) and resps:
        resps = resps[0]
    if not isinstance(resps, str):
        raise HarnessError(f"{where}: field 'resps': no response text")
    return resps


def import_lm_eval(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: one ``samples_<task>_<time>.jsonl`` or a folder of them (MATH comes as seven
    subject files). Items are matched to the cache by question text; answers are re-graded with
    math-verify against the cache's references."""
    from harness.grading.regrade import extract_answer, grade_math_answers

    files = _lm_eval_files(_need(path, "lm-eval samples"))
    if not files:
        raise HarnessError(f"{path}: no samples_*.jsonl files")
    by_bench: dict[str, list[tuple[str, str, str]]] = {}  # (question, response, its file and line)
    for f in files:
        benchmark, key = _lm_eval_task(f)
        for lineno, row in numbered_jsonl(f):
            row = record(row, at_line(f, lineno))
            place = at_line(f, lineno, row.get("doc_id"))
            question = text(get(row, "doc", place), key, f"{place}: field 'doc'")
            by_bench.setdefault(benchmark, []).append((_norm_text(question), _response(row, place), place))
    stagings: list[Staging] = []
    for benchmark, samples in by_bench.items():
        from benchmarks._opencompass import human_turn

        results, _ = _reference_details(benchmark)
        details = results["details"]
        positions = sorted(details, key=int)
        where: dict[str, list[str]] = {}
        for p in positions:
            prompt = human_turn(details[p]["prompt"])
            where.setdefault(_norm_text(prompt.removesuffix(MATH_SUFFIX)), []).append(p)
        answer: dict[str, str] = {}
        for question, resp, place in samples:
            slots = [p for p in where.get(question, []) if p not in answer]
            if not slots:
                raise HarnessError(f"{place}: question {question[:60]!r} is not in the cache's {benchmark} items")
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
        stagings.append(st)
    return commit_all(stagings)


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
