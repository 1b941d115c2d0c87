"""``routing-harness judge``: judge a new model's answers to AlpacaEval, Arena-Hard or MT-Bench with
:mod:`harness.grading.judge` and write the judgments in the tool's own format, ready for
``routing-harness import``.

| benchmark  | ``--answers`` (the tool's format)                          | writes under ``--out``              |
|------------|-------------------------------------------------------------|-------------------------------------|
| alpacaeval | alpaca_eval ``model_outputs.json`` [{instruction, output}]  | results/<model>/ (outputs, annotations) |
| arenahard  | arena-hard-auto ``model_answer/<model>.jsonl`` (+ ``--baseline``: gpt-4-0314's) | model_answer/, model_judgment/<judge>/ |
| mtbench    | FastChat ``model_answer/<model>.jsonl`` (two turns)         | model_judgment/<judge>_single.jsonl |

Questions (and AlpacaEval's reference outputs, MT-Bench's reference answers) come from the cache.
Requests run ``workers`` at a time behind a progress bar; every call is cached on disk by the client,
so an interrupted run resumes. Imports: core, benchmarks and the grading modules.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from benchmarks._fields import Seen, at_item, at_line, ident, known, numbered_jsonl, record, sequence, text
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, read_json
from harness.core.progress import bar
from harness.grading import judge
from harness.grading.staging import JUDGE_ALPACA, _items, _write_plain, check_model_name

BENCHMARKS = ("alpacaeval", "arenahard", "mtbench")
IMPORT_FORMAT = {"alpacaeval": "alpaca_eval", "arenahard": "arena_hard", "mtbench": "mt_bench"}


@dataclass
class Judged:
    path: Path  # what to pass to ``routing-harness import --file``
    items: int
    tally: judge.Tally


def judge_answers(benchmark: str, answers: Path, model: str, out: Path, *, baseline: Path | None = None,
                  limit: int | None = None, workers: int = 8, client: judge.JudgeClient | None = None) -> Judged:
    if benchmark not in BENCHMARKS:
        raise HarnessError(f"--benchmark {benchmark}: judged benchmarks are {', '.join(BENCHMARKS)}")
    if not answers.is_file():
        raise HarnessError(f"{answers}: not found (--answers)")
    if workers < 1:
        raise HarnessError(f"--workers {workers}: use at least 1")
    check_model_name(model)
    client = client or judge.JudgeClient(judge.JudgeConfig.from_env())
    run = {"alpacaeval": _alpacaeval, "arenahard": _arenahard, "mtbench": _mtbench}[benchmark]
    path, n = run(client, answers, model, out, baseline=baseline, limit=limit, workers=workers)
    return Judged(path, n, client.tally)


def _map(fn: Callable[[Any], Any], jobs: list, workers: int, desc: str) -> list:
    """``fn`` over ``jobs`` in order, ``workers`` at a time, behind a progress bar with an ETA."""
    with ThreadPoolExecutor(max_workers=workers) as pool, bar(len(jobs), desc, unit="item") as tick:
        futures = [pool.submit(fn, job) for job in jobs]
        out = []
        for fut in futures:
            out.append(fut.result())
            tick.update(1)
        return out


def _first(jobs: list, limit: int | None) -> list:
    if limit is not None and limit < 1:
        raise HarnessError(f"--limit {limit}: use at least 1")
    return jobs if limit is None else jobs[:limit]


# ---------------------------------------------------------------------------------------------

def _alpacaeval(client, answers: Path, model: str, out: Path, *, baseline, limit, workers) -> tuple[Path, int]:
    _, items = _items("alpacaeval")
    reference = dict(zip(items.prompts, items.meta["reference"]))
    rows = read_json(answers)
    if not isinstance(rows, list):
        raise HarnessError(f"{answers}: expected alpaca_eval's model_outputs.json (a JSON list)")
    jobs, seen = [], Seen("output")
    for i, row in enumerate(rows):
        where = at_item(answers, i)
        instruction = text(row, "instruction", where)
        if instruction not in reference:
            raise HarnessError(f"{where}: instruction is not one of AlpacaEval's {len(reference)}")
        seen.add(instruction, where, "the same instruction")
        jobs.append((instruction, text(row, "output", where)))
    jobs = _first(jobs, limit)
    annotations = _map(lambda job: judge.judge_alpacaeval(client, job[0], reference[job[0]], job[1], model),
                       jobs, workers, "judge alpacaeval")
    folder = out / "results" / model
    atomic_write_json(folder / "model_outputs.json",
                      [{"instruction": q, "output": a, "generator": model} for q, a in jobs])
    atomic_write_json(folder / JUDGE_ALPACA / "annotations.json", annotations)
    return folder, len(jobs)


def _arena_answers(path: Path, items) -> dict[str, str]:
    from benchmarks.arenahard import ArenaHard

    return ArenaHard.read_answers(path, items)  # the adapter's own checks, naming the user's lines


def _arenahard(client, answers: Path, model: str, out: Path, *, baseline, limit, workers) -> tuple[Path, int]:
    if baseline is None or not baseline.is_file():
        raise HarnessError("--baseline: arena-hard-auto's model_answer/gpt-4-0314.jsonl (the baseline the "
                           "judge compares against) is needed for arenahard")
    _, items = _items("arenahard")
    mine, base = _arena_answers(answers, items), _arena_answers(baseline, items)
    prompt = dict(zip(items.ids, items.prompts))
    qids = _first([q for q in items.ids if q in mine and q in base], limit)
    cfg = judge.arena_hard_config()
    rows = _map(lambda q: judge.judge_arenahard(client, {"question_id": q, "turns": [{"content": prompt[q]}]},
                                                mine[q], base[q], model, cfg), qids, workers, "judge arenahard")
    answer_rows = [{"question_id": q, "model_id": model, "choices": [{"index": 0, "turns": [{"content": mine[q]}]}]}
                   for q in qids]
    _write_plain(out / "model_answer" / f"{model}.jsonl", answer_rows, jsonl=True)
    _write_plain(out / "model_judgment" / client.cfg.model / f"{model}.jsonl", rows, jsonl=True)
    return out, len(qids)


def _mtbench_answers(path: Path, items) -> dict[str, list[str]]:
    """Question id -> the two turns' answers of a FastChat ``model_answer`` file."""
    table, seen, out = set(items.ids), Seen("answer"), {}
    for lineno, row in numbered_jsonl(path):
        where = at_line(path, lineno)
        qid = known(ident(record(row, where), "question_id", where), table, where, "MT-Bench's questions")
        seen.add(qid, at_line(path, lineno, qid))
        turns = sequence(sequence(row, "choices", where)[0], "turns", f"{where}: field 'choices[0]'", min_len=2)
        if not all(isinstance(t, str) for t in turns[:2]):
            raise HarnessError(f"{where}: field 'choices[0].turns': expected two answer strings")
        out[qid] = turns[:2]
    return out


def _mtbench(client, answers: Path, model: str, out: Path, *, baseline, limit, workers) -> tuple[Path, int]:
    _, items = _items("mtbench")
    mine = _mtbench_answers(answers, items)
    refs = judge.cached_mtbench_references()
    questions = {q: {"question_id": int(q) if q.isdigit() else q, "category": cat, "turns": [t1, t2]}
                 for q, t1, t2, cat in zip(items.ids, items.prompts, items.meta["turn2"], items.meta["category"])}
    qids = _first([q for q in items.ids if q in mine], limit)
    rows = _map(lambda q: judge.judge_mtbench(client, questions[q], mine[q], model, refs.get(q)),
                qids, workers, "judge mtbench")
    dest = out / "model_judgment" / f"{client.cfg.model}_single.jsonl"
    _write_plain(dest, [r for pair in rows for r in pair], jsonl=True)
    return dest, len(qids)
