"""lm-evaluation-harness ``--log_samples`` output as a candidate: GSM8K and MATH re-graded by
math-verify, HumanEval and MBPP run in the sandbox (issue 25; ``FORMAT=lm_eval``).

What it reads, per ``samples_<task>_<time>.jsonl`` (one file per task; MATH may come as seven
subject files): the task by its name's prefix (``gsm8k*``, ``minerva_math*``, ``hendrycks_math*``,
``humaneval*``, ``mbpp*``), and per doc its question (matched to the cache by text: ``question``,
``problem``) or task id (``task_id``: ``HumanEval/<n>``, or the MBPP task number, placed through
:mod:`harness.grading.mbpp_ids`). lm-eval >= 0.4.9 writes one line per doc *and filter*; a doc is
taken once, with every filter's output kept beside the raw response.

What is graded: math from the raw response (``resps``), as OpenCompass's candidates were; code from
lm-eval's own answer filter (``filtered_resps``: ``humaneval``'s ``build_predictions`` is prompt +
completion, ``mbpp_instruct``'s extracts the code block), the test part always the benchmark's own
(:mod:`harness.grading.programs`). Each stored record keeps its ``generation``: the task, the exact
prompt lm-eval sent, its generation settings and the filters' outputs.

Up to ``allow_missing`` cache items without a sample are left out (an ``omitted`` placeholder the
adapters skip: pools naming the model drop those items and count them), so a ``--limit`` run imports.

Imports: core, benchmarks and the grading modules beside it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.core.io import write_json_gz

from benchmarks._fields import at_line, get, numbered_jsonl, record, text
from harness.grading import mbpp_ids, programs as programs_
from harness.grading.staging import MATH_SUFFIX, Staging, _need, _reference_details, check_missing, commit_all

# (task name prefix, benchmark, the doc field that identifies the item)
TASKS = (("gsm8k", "gsm8k", "question"), ("minerva_math", "math", "problem"), ("hendrycks_math", "math", "problem"),
         ("humaneval", "humaneval", "task_id"), ("mbpp", "mbpp", "task_id"))
CODE = ("humaneval", "mbpp")


def norm_text(s: str) -> str:
    return " ".join(s.split())


def sample_files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(path.glob("**/samples_*.jsonl*"))


def task_of(file: Path) -> tuple[str, str, str]:
    """(task name, benchmark, identifying doc field) of one samples file."""
    task = file.name.removeprefix("samples_").split(".jsonl")[0]
    task = task.rsplit("_", 1)[0] if task.count("_") else task  # drop the time stamp
    for prefix, benchmark, key in TASKS:
        if task.startswith(prefix):
            return task, benchmark, key
    raise HarnessError(f"{file}: task is not one of {', '.join(p for p, _, _ in TASKS)} (by its name's prefix)")


def _first_text(value: Any) -> str | None:
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _arguments(row: dict) -> tuple[str | None, dict]:
    """(prompt, generation settings) of a sample: ``[[prompt, kwargs]]`` (lm-eval <= 0.4.8) or
    ``{"gen_args_0": {"arg_0": prompt, "arg_1": kwargs}}`` (0.4.9 on)."""
    args = row.get("arguments")
    if isinstance(args, dict) and args:
        first = next(iter(args.values()))
        if isinstance(first, dict):
            return first.get("arg_0"), first.get("arg_1") or {}
    if isinstance(args, list) and args and isinstance(args[0], list) and args[0]:
        return args[0][0], (args[0][1] if len(args[0]) > 1 and isinstance(args[0][1], dict) else {})
    return None, {}


class Sample:
    """One doc of one samples file: its key, raw response, filtered outputs and where it came from."""

    def __init__(self, row: dict, place: str, task: str, key_field: str):
        doc = record(get(row, "doc", place), f"{place}: field 'doc'")
        self.place, self.task, self.doc = place, task, doc
        raw = get(doc, key_field, f"{place}: field 'doc'")
        self.key = norm_text(text(doc, key_field, f"{place}: field 'doc'")) if key_field != "task_id" else str(raw)
        self.response = _first_text(row.get("resps"))
        if self.response is None:
            raise HarnessError(f"{place}: field 'resps': no response text")
        prompt, settings = _arguments(row)
        self.generation = {"task": task, "prompt": prompt, "settings": settings, "filtered": {}}
        self.add_filter(row)

    def add_filter(self, row: dict) -> None:
        self.generation["filtered"][str(row.get("filter", "none"))] = _first_text(row.get("filtered_resps"))

    def filtered(self) -> str:
        """The first filter's output (lm-eval's answer as its task defines it), else the raw response."""
        outs = [v for v in self.generation["filtered"].values() if isinstance(v, str)]
        return outs[0] if outs else self.response


def read_samples(path: Path) -> dict[str, list[Sample]]:
    """benchmark -> its samples, one per (file, doc_id)."""
    files = sample_files(_need(path, "lm-eval samples"))
    if not files:
        raise HarnessError(f"{path}: no samples_*.jsonl files")
    by_bench: dict[str, list[Sample]] = {}
    for f in files:
        task, benchmark, key = task_of(f)
        seen: dict[Any, Sample] = {}
        for lineno, row in numbered_jsonl(f):
            row = record(row, at_line(f, lineno))
            doc_id = row.get("doc_id", lineno)
            if doc_id in seen:  # the same doc under another filter
                seen[doc_id].add_filter(row)
                continue
            seen[doc_id] = Sample(row, at_line(f, lineno, row.get("doc_id")), task, key)
            by_bench.setdefault(benchmark, []).append(seen[doc_id])
    return by_bench


def _place(benchmark: str, samples: list[Sample], positions_of: dict[str, list[str]]) -> dict[str, Sample]:
    """Cache position -> sample; a sample naming no cache item is an error naming its line."""
    placed: dict[str, Sample] = {}
    for s in samples:
        slots = [p for p in positions_of.get(s.key, []) if p not in placed]
        if not slots:
            what = f"question {s.key[:60]!r}" if benchmark in ("gsm8k", "math") else f"task_id {s.key!r}"
            raise HarnessError(f"{s.place}: {what} is not in the cache's {benchmark} items (or is there twice)")
        placed[slots[0]] = s
    return placed


def _stage_math(benchmark: str, samples: list[Sample], model: str, force: bool, allow_missing: int,
                path: Path) -> Staging:
    from benchmarks._opencompass import human_turn
    from harness.grading.regrade import extract_answer, grade_math_answers

    results, _ = _reference_details(benchmark)
    details = results["details"]
    positions = sorted(details, key=int)
    positions_of: dict[str, list[str]] = {}
    for p in positions:
        positions_of.setdefault(norm_text(human_turn(details[p]["prompt"]).removesuffix(MATH_SUFFIX)), []).append(p)
    placed = _place(benchmark, samples, positions_of)
    missing = [p for p in positions if p not in placed]
    check_missing(path, [f"position {p}" for p in missing], len(positions), allow_missing, "sample")
    kept = [p for p in positions if p in placed]
    refs = [str(details[p]["references"]) for p in kept]
    graded = grade_math_answers(benchmark, [placed[p].response for p in kept], refs)
    out = {}
    for p, ref, g in zip(kept, refs, graded):
        answer = placed[p].response
        out[p] = {"prompt": details[p]["prompt"], "origin_prediction": answer,
                  "predictions": extract_answer(answer, benchmark)[0] or g[1], "references": ref,
                  "correct": bool(g[0]), "generation": placed[p].generation}
    for p in missing:  # placeholders the adapter skips: the item leaves every pool naming the model
        out[p] = {"prompt": details[p]["prompt"], "origin_prediction": "", "predictions": "",
                  "references": str(details[p]["references"]), "correct": False, "omitted": True}
    st = Staging(benchmark, model, force)
    write_json_gz(st.path(), {"accuracy": 100.0 * sum(g[0] for g in graded) / max(1, len(graded)),
                              "details": {p: out[p] for p in positions}, "type": "GEN",
                              "graded_by": "math-verify (routing-harness)"})
    return st


def _code_program(benchmark: str, s: Sample, gold: str) -> tuple[programs_.Program, str]:
    """(the program in its two parts, the model's code as stored) of one code sample."""
    code = s.filtered()
    if benchmark == "humaneval":
        problem = programs_.humaneval_problem(s.key)
        completion = code[len(problem["prompt"]):] if code.startswith(problem["prompt"]) else code
        return programs_.humaneval(problem, completion), completion
    return programs_.mbpp(f"{code}\n{gold}", gold), code


def _stage_code(benchmark: str, samples: list[Sample], model: str, force: bool, allow_missing: int,
                path: Path) -> Staging:
    from harness.grading.regrade import run_programs

    _, preds = _reference_details(benchmark)
    positions = sorted(preds, key=int)
    if benchmark == "humaneval":
        positions_of = {str(preds[p]["gold"]): [p] for p in positions}
    else:  # lm-eval's MBPP docs carry the original task number (11 ... 479 for the cache's items)
        positions_of = {str(mbpp_ids.TASK_IDS[int(p)]): [p] for p in positions}
    placed = _place(benchmark, samples, positions_of)
    missing = [p for p in positions if p not in placed]
    check_missing(path, [f"position {p}" for p in missing], len(positions), allow_missing, "sample")
    kept = [p for p in positions if p in placed]
    built = [_code_program(benchmark, placed[p], str(preds[p]["gold"])) for p in kept]
    runs = run_programs([prog for prog, _ in built])
    out_preds, details = {}, {}
    for p, (prog, code), (ok, why) in zip(kept, built, runs):
        out_preds[p] = {"origin_prompt": preds[p]["origin_prompt"], "prediction": code, "gold": preds[p]["gold"]}
        rec = {"is_correct": bool(ok), "result": "passed" if ok else why, "generation": placed[p].generation}
        rec.update({"task_id": placed[p].key, "completion": code} if benchmark == "humaneval"
                   else {"programs": f"{code}\n{preds[p]['gold']}"})
        details[p] = rec
    for p in missing:
        out_preds[p] = {"origin_prompt": preds[p]["origin_prompt"], "prediction": "", "gold": preds[p]["gold"]}
        details[p] = {"is_correct": False, "result": "no sample", "omitted": True,
                      **({"task_id": preds[p]["gold"], "completion": ""} if benchmark == "humaneval" else {"programs": ""})}
    st = Staging(benchmark, model, force)
    write_json_gz(st.path(0), {p: out_preds[p] for p in positions})
    write_json_gz(st.path(1), {("humaneval_pass@1" if benchmark == "humaneval" else "score"):
                               100.0 * sum(r[0] for r in runs) / max(1, len(runs)),
                               "details": {p: details[p] for p in positions}, "graded_by": "routing-harness sandbox"})
    return st


def import_lm_eval_samples(path: Path, model: str, *, source: str | None = None, force: bool = False,
                           allow_missing: int = 0) -> list[Path]:
    """``path``: one ``samples_<task>_<time>.jsonl`` or a folder of them; every benchmark found is
    validated before any file moves (all or nothing)."""
    stagings = []
    for benchmark, samples in read_samples(path).items():
        stage = _stage_code if benchmark in CODE else _stage_math
        stagings.append(stage(benchmark, samples, model, force, allow_missing, path))
    return commit_all(stagings)
