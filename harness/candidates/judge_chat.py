"""Judging a candidate's chat answers with the harness's judge client (:mod:`harness.grading.judge`:
``JUDGE_BASE_URL``, ``JUDGE_MODEL``; its disk cache makes a re-run resume) and writing them in the
tools' own output formats, which the importers then read (all or nothing, through the adapters):

| benchmark  | judged against                                   | written (under ``<work>/import/``)                      |
|------------|--------------------------------------------------|----------------------------------------------------------|
| alpacaeval | gpt4_1106_preview's outputs (the cache's items)   | alpaca_eval ``<model>/<annotator>/annotations.json``, ``model_outputs.json`` |
| arenahard  | gpt-4-0314's answers, read from the cached judge prompts (game 1's Assistant A) | arena-hard-auto ``model_answer/``, ``model_judgment/<judge>/`` |
| mtbench    | FastChat single grading; math-like references from the cached judge prompts | FastChat ``model_judgment/<judge>_single.jsonl`` (+ ``model_answer/``) |

Each annotation, judgment or answer row keeps the answer's ``generation`` record (template,
settings, messages sent). A judge other than the cache's is named in the importers' warning.
"""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Callable

from harness.candidates.generate_chat import Progress
from harness.candidates.settings import CandidateSpec
from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_json, atomic_write_text
from harness.grading.staging import JUDGE_ALPACA

_BASELINE = re.compile(r"<\|The Start of Assistant A's Answer\|>\n(.*?)\n<\|The End of Assistant A's Answer\|>", re.S)
ARENA_REFERENCE_MODEL = "Yi-1.5-34B-Chat"  # whose cached judgments hold the baseline answers


def _jsonl(path: Path, rows: list[dict]) -> None:
    import json

    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _parallel(spec: CandidateSpec, label: str, fn: Callable[[dict], dict], records: list[dict]) -> list[dict]:
    """``fn`` over the records, at most ``--concurrency`` at once, in order, with progress."""
    progress = Progress(f"candidate {spec.model}: {label}", len(records), 0)

    def one(rec: dict) -> dict:
        out = fn(rec)
        progress.step()
        return out

    with ThreadPoolExecutor(max_workers=spec.concurrency, thread_name_prefix="rh-judge") as pool:
        return list(pool.map(one, records))


def judge_alpacaeval(spec: CandidateSpec, client, records: list[dict]) -> tuple[str, Path, int]:
    from benchmarks import get_benchmark
    from harness.core import store
    from harness.grading import judge

    table = store.read_items(get_benchmark("alpacaeval"))
    reference = dict(zip(table.ids, table.meta["reference"]))

    def one(rec: dict) -> dict:
        row = judge.judge_alpacaeval(client, rec["turns"][0], reference[rec["id"]], rec["answers"][0], spec.model)
        return dict(row, generation=rec["generation"])

    rows = _parallel(spec, "alpacaeval judgments", one, records)
    folder = spec.work / "import" / "alpaca_eval" / spec.model
    atomic_write_json(folder / JUDGE_ALPACA / "annotations.json", rows)
    atomic_write_json(folder / "model_outputs.json",
                      [{"instruction": r["turns"][0], "output": r["answers"][0], "generator": spec.model,
                        "generation": r["generation"]} for r in records])
    return "alpaca_eval", folder, len(table.ids) - len(records)


@lru_cache(maxsize=1)
def cached_arena_baselines(model: str = ARENA_REFERENCE_MODEL) -> dict[str, str]:
    """gpt-4-0314's answer per Arena-Hard question, as the authors' judge saw it (game 1: A)."""
    from harness.core.io import read_jsonl

    path = config.cache_root() / "test" / "ArenaHard" / "model_judgment" / f"{model}.jsonl.gz"
    out = {}
    for row in read_jsonl(path):
        games = row.get("games") or []
        found = _BASELINE.search(str(games[0].get("user_prompt", ""))) if games else None
        if found:
            out[str(row["question_id"])] = found.group(1)
    return out


def judge_arenahard(spec: CandidateSpec, client, records: list[dict]) -> tuple[str, Path, int]:
    from harness.grading import judge

    baselines, cfg = cached_arena_baselines(), judge.arena_hard_config()
    lacking = [r["id"] for r in records if r["id"] not in baselines]
    if lacking:
        raise HarnessError(f"Arena-Hard question {lacking[0]}: no baseline answer in the cached judge prompts")

    def one(rec: dict) -> dict:
        question = {"question_id": rec["id"], "turns": [{"content": rec["turns"][0]}]}
        return judge.judge_arenahard(client, question, rec["answers"][0], baselines[rec["id"]], spec.model, cfg)

    rows = _parallel(spec, "arenahard judgments", one, records)
    folder = spec.work / "import" / "arena_hard"
    _jsonl(folder / "model_answer" / f"{spec.model}.jsonl",
           [{"question_id": r["id"], "answer_id": f"{spec.model}-{r['id']}", "model_id": spec.model,
             "choices": [{"index": 0, "turns": [{"content": r["answers"][0]}]}], "tstamp": time.time(),
             "generation": r["generation"]} for r in records])
    _jsonl(folder / "model_judgment" / _safe(client.cfg.model) / f"{spec.model}.jsonl", rows)
    return "arena_hard", folder, 0


def judge_mtbench(spec: CandidateSpec, client, records: list[dict]) -> tuple[str, Path, int]:
    from harness.grading import judge

    needs_reference = any(r["category"] in judge.MATH_CATEGORIES for r in records)
    references = judge.cached_mtbench_references() if needs_reference else {}

    def one(rec: dict) -> list[dict]:
        qid = int(rec["id"]) if rec["id"].isdigit() else rec["id"]
        question = {"question_id": qid, "category": rec["category"], "turns": rec["turns"]}
        rows = judge.judge_mtbench(client, question, rec["answers"], spec.model, references.get(rec["id"]))
        return [dict(row, generation=rec["generation"]) for row in rows]

    rows = [row for pair in _parallel(spec, "mtbench judgments", one, records) for row in pair]
    folder = spec.work / "import" / "mt_bench"
    _jsonl(folder / "model_answer" / f"{spec.model}.jsonl",
           [{"question_id": r["id"], "answer_id": f"{spec.model}-{r['id']}", "model_id": spec.model,
             "choices": [{"index": 0, "turns": r["answers"]}], "tstamp": time.time(),
             "generation": r["generation"]} for r in records])
    path = folder / "model_judgment" / f"{_safe(client.cfg.model)}_single.jsonl"
    _jsonl(path, rows)
    return "mt_bench", path, 0


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


JUDGES = {"alpacaeval": judge_alpacaeval, "arenahard": judge_arenahard, "mtbench": judge_mtbench}


def judge_and_write(spec: CandidateSpec, benchmark: str, records: list[dict], client) -> tuple[str, Path, int]:
    """(importer format, what to import, items it may leave out)."""
    return JUDGES[benchmark](spec, client, records)
