"""MT-Bench: mean GPT-4-0125-preview score (1-10) over both turns of the chosen candidate.

The router sees only the first turn. Judge failures are stored as -1 and, as in the authors'
evaluation, kept as -1 in the averages; under the ``official`` conventions (harness.core.conventions)
they are dropped, as FastChat's ``show_result.py`` drops rows with score -1. The candidate's
first-turn answer is read back out of the cached judge prompt (the cache has no separate answer file).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import register_benchmark
from benchmarks._fields import Seen, at_line, bad, ident, integer, known, number, numbered_jsonl, sequence, text
from benchmarks.base import Benchmark, BenchmarkData, ItemTable, ModelRecords

JUDGE_PREFIX = "gpt-4-0125-preview_judge_"
_ANSWER = re.compile(r"\[The Start of Assistant's Answer\]\n(.*?)\n\[The End of Assistant's Answer\]", re.S)
_FIRST_TURN_ANSWER = re.compile(
    r"### Assistant A:\n(.*?)\n\n<\|The End of Assistant A's Conversation", re.S)


FAILED = -1.0  # the score FastChat stores for a judgment it could not parse


def turn_parts(turn1: np.ndarray, turn2: np.ndarray, conventions: str = "paper") -> tuple[np.ndarray, np.ndarray]:
    """Per item (sum of the counted turn scores, number of counted turns): the paper counts every
    turn (a failure as -1), the official rules only judged ones. The score is sum / count."""
    turns = np.stack([turn1, turn2])
    counted = np.ones_like(turns, dtype=bool) if conventions == "paper" else turns != FAILED
    return np.where(counted, turns, 0.0).sum(axis=0), counted.sum(axis=0).astype(np.float64)


def _mean(parts: tuple[np.ndarray, np.ndarray]) -> float:
    total, count = parts
    return float(total.sum() / count.sum()) if count.sum() else float("nan")


def _turn_mean(values: np.ndarray, conventions: str) -> float:
    kept = values if conventions == "paper" else values[values != FAILED]
    return float(kept.mean()) if len(kept) else float("nan")


def answer_from_judge_prompt(prompt: str) -> str:
    match = _ANSWER.search(prompt) or _FIRST_TURN_ANSWER.search(prompt)
    return match.group(1) if match else ""


@register_benchmark("mtbench")
class MTBench(Benchmark):
    name = "mtbench"
    title = "MT-Bench"
    metric = "mean_score"
    official_rules = "a failed judgment (score -1) is dropped, not averaged in as -1"
    folder = "MT-Bench"
    version = 2

    def _dir(self, root: Path) -> Path:
        return root / "test" / self.folder

    def models(self, root: Path) -> list[str]:
        return sorted(p.name.removeprefix(JUDGE_PREFIX).removesuffix("_single.jsonl.gz")
                      for p in (self._dir(root) / "judgments").glob(f"{JUDGE_PREFIX}*_single.jsonl.gz"))

    def item_files(self, root: Path) -> list[Path]:
        return [self._dir(root) / "question.jsonl.gz"]

    def model_files(self, root: Path, model: str) -> list[Path]:
        return [self._dir(root) / "judgments" / f"{JUDGE_PREFIX}{model}_single.jsonl.gz"]

    def read_items(self, root: Path) -> ItemTable:
        path = self.item_files(root)[0]
        ids, prompts, second, categories = [], [], [], []
        seen = Seen("question")
        for lineno, row in numbered_jsonl(path):
            qid = ident(row, "question_id", at_line(path, lineno))
            where = at_line(path, lineno, qid)
            seen.add(qid, where)
            turns = sequence(row, "turns", where)
            bad_turn = next((k for k, t in enumerate(turns) if not isinstance(t, str)), None)
            if bad_turn is not None:
                raise bad(where, f"turns[{bad_turn}]", "a string", turns[bad_turn])
            ids.append(qid)
            prompts.append(turns[0])
            second.append(turns[1] if len(turns) > 1 else "")
            categories.append(text(row, "category", where))
        return ItemTable(ids=ids, prompts=prompts, meta={"category": categories, "turn2": second})

    @staticmethod
    def read_judgments(rows: list[tuple[int, Any]], path: Path,
                       items: ItemTable) -> tuple[dict[tuple[str, int], float], dict[str, str]]:
        """Scores per (question id, turn) and first-turn answers of single-grading judgment rows
        ((line number, row) pairs of ``path``). Each (question, turn) must be a question of the
        table, judged once."""
        table, seen = set(items.ids), Seen("judgment")
        scores: dict[tuple[str, int], float] = {}
        answers: dict[str, str] = {}
        for lineno, row in rows:
            where = at_line(path, lineno)
            qid = known(ident(row, "question_id", where), table, where, "the MT-Bench questions (question.jsonl.gz)")
            where = at_line(path, lineno, qid)
            turn = integer(row, "turn", where, choices=(1, 2))
            seen.add((qid, turn), where, f"turn {turn}")
            scores[(qid, turn)] = number(row, "score", where)  # a judge failure is -1, never null
            if turn == 1:
                answers[qid] = answer_from_judge_prompt(text(row, "user_prompt", where))
        return scores, answers

    def read_model(self, root: Path, model: str, items: ItemTable) -> ModelRecords:
        path = self.model_files(root, model)[0]
        scores, answers = self.read_judgments(numbered_jsonl(path), path, items)
        ids = [q for q in items.ids if (q, 1) in scores and (q, 2) in scores]
        turn1 = np.array([scores[(q, 1)] for q in ids], dtype=np.float64)
        turn2 = np.array([scores[(q, 2)] for q in ids], dtype=np.float64)
        return ModelRecords(model=model, source=str(path), ids=ids, answers=[answers[q] for q in ids],
                            native={"turn1": turn1, "turn2": turn2}, gt=(turn1 + turn2) / 2.0)

    @staticmethod
    def official_gt(data: BenchmarkData) -> np.ndarray:
        """Per-item ground truth without failed judgments: the mean of the judged turns (-1 if none)."""
        total, count = turn_parts(data.native["turn1"], data.native["turn2"], "official")
        return np.where(count > 0, total / np.maximum(count, 1.0), FAILED)

    def score(self, data: BenchmarkData, choice: np.ndarray, *, seed: int = 0,
              detail: bool = True, conventions: str = "paper") -> dict[str, Any]:
        turn1, turn2 = data.routed("turn1", choice), data.routed("turn2", choice)
        out: dict[str, Any] = {"score": _mean(turn_parts(turn1, turn2, conventions)),
                               "turn1": _turn_mean(turn1, conventions), "turn2": _turn_mean(turn2, conventions),
                               "judge_failures": int((turn1 < 0).sum() + (turn2 < 0).sum())}
        if detail:
            categories = np.asarray(data.meta["category"])
            out["by_category"] = {c: _mean(turn_parts(turn1[categories == c], turn2[categories == c], conventions))
                                  for c in sorted(set(categories))}
        return out
