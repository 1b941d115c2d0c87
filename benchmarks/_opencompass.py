"""Shared reading of OpenCompass output files (GSM8K, MATH, HumanEval, MBPP in the cache).

OpenCompass keys items by their position ("0", "1", ...) and stores the prompt as the repr of a
list of chat turns; the item table is taken from the first candidate file and every other
candidate must agree with it item by item.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.base import Benchmark, ItemTable, ModelRecords
from harness.core.errors import HarnessError
from harness.core.io import field, read_json


def human_turn(prompt: Any) -> str:
    """The last HUMAN turn of an OpenCompass prompt (a list, or its Python repr)."""
    turns = prompt
    if isinstance(prompt, str):
        try:
            turns = ast.literal_eval(prompt)
        except (ValueError, SyntaxError):
            return prompt
    if isinstance(turns, list):
        human = [t.get("prompt", "") for t in turns if isinstance(t, dict) and t.get("role") == "HUMAN"]
        if human:
            return human[-1]
    return str(prompt)


def as_bool(value: Any, path: Path, item: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("True", "true", 1):
        return True
    if value in ("False", "false", 0):
        return False
    raise HarnessError(f"{path}: item {item}: expected a boolean verdict, got {value!r}")


def positional(details: Any, path: Path) -> list[tuple[str, dict]]:
    """Items of an OpenCompass ``details`` mapping in positional order, checked to be 0..n-1."""
    if isinstance(details, list):
        return [(str(i), d) for i, d in enumerate(details)]
    if not isinstance(details, dict):
        raise HarnessError(f"{path}: 'details' must be a mapping of item positions")
    keys = sorted(details, key=lambda k: int(k) if str(k).isdigit() else -1)
    if [str(k) for k in keys] != [str(i) for i in range(len(keys))]:
        raise HarnessError(f"{path}: item keys are not the positions 0..{len(keys) - 1}")
    return [(str(k), details[k]) for k in keys]


class OpenCompassBenchmark(Benchmark):
    """Adapters whose files are ``<folder>/<subdir><model>.json.gz`` OpenCompass outputs."""

    reference_model = "Yi-1.5-34B-Chat"  # whose file supplies the item table (all candidates agree)

    def _dir(self, root: Path) -> Path:
        return root / "test" / self.folder

    def item_files(self, root: Path) -> list[Path]:
        return self.model_files(root, self._table_model(root))

    def _table_model(self, root: Path) -> str:
        models = self.models(root)
        if not models:
            raise HarnessError(f"{self._dir(root)}: no candidate files")
        return self.reference_model if self.reference_model in models else models[0]

    def items_from(self, root: Path, model: str) -> list[tuple[str, str]]:
        """(item id, prompt) pairs of one candidate's file, in order."""
        raise NotImplementedError

    def read_items(self, root: Path) -> ItemTable:
        pairs = self.items_from(root, self._table_model(root))
        return ItemTable(ids=[i for i, _ in pairs], prompts=[p for _, p in pairs])

    def check_same_items(self, path: Path, model_pairs: list[tuple[str, str]], items: ItemTable) -> None:
        if len(model_pairs) != len(items.ids):
            raise HarnessError(f"{path}: {len(model_pairs)} items, the item table has {len(items.ids)} "
                               "(mismatched item ids between candidates)")
        for (item_id, prompt), ref_id, ref_prompt in zip(model_pairs, items.ids, items.prompts):
            if item_id != ref_id or prompt != ref_prompt:
                raise HarnessError(f"{path}: item {item_id}: prompt differs from the other candidates' "
                                   "(mismatched item ids between candidates)")

    @staticmethod
    def records(model: str, path: Path, ids: list[str], answers: list[str],
                correct: list[bool]) -> ModelRecords:
        flags = np.asarray(correct, dtype=np.float64)
        return ModelRecords(model=model, source=str(path), ids=ids, answers=answers,
                            native={"correct": flags}, gt=flags.copy())


class ReasoningBenchmark(OpenCompassBenchmark):
    """GSM8K and MATH: ``<folder>/<model>.json.gz`` with details[pos].correct; metric accuracy."""

    metric = "accuracy"
    stored_metric = "accuracy"

    def models(self, root: Path) -> list[str]:
        return sorted(p.name.removesuffix(".json.gz") for p in self._dir(root).glob("*.json.gz"))

    def model_files(self, root: Path, model: str) -> list[Path]:
        return [self._dir(root) / f"{model}.json.gz"]

    def _details(self, path: Path) -> list[tuple[str, dict]]:
        return positional(field(read_json(path), "details", path, "-"), path)

    def items_from(self, root: Path, model: str) -> list[tuple[str, str]]:
        path = self.model_files(root, model)[0]
        return [(i, human_turn(field(d, "prompt", path, i))) for i, d in self._details(path)]

    def read_model(self, root: Path, model: str, items: ItemTable) -> ModelRecords:
        path = self.model_files(root, model)[0]
        details = self._details(path)
        self.check_same_items(path, [(i, human_turn(field(d, "prompt", path, i))) for i, d in details], items)
        return self.records(model, path, [i for i, _ in details],
                            [str(field(d, "origin_prediction", path, i)) for i, d in details],
                            [as_bool(field(d, "correct", path, i), path, i) for i, d in details])

    def stored_figure(self, root: Path, model: str) -> float:
        """The metric as the cache file itself states it (a self-check)."""
        path = self.model_files(root, model)[0]
        return float(field(read_json(path), self.stored_metric, path, "-"))

    def score(self, data, choice, *, seed: int = 0, detail: bool = True) -> dict[str, Any]:
        correct = data.routed("correct", choice)
        return {"score": float(correct.mean() * 100.0), "n_correct": int(correct.sum())}


class CodeBenchmark(OpenCompassBenchmark):
    """HumanEval and MBPP: ``predictions/<model>.json.gz`` + ``results/<model>.json.gz``; pass@1."""

    metric = "pass@1"
    stored_metric = ""
    program_field = ""

    def models(self, root: Path) -> list[str]:
        preds = {p.name.removesuffix(".json.gz") for p in (self._dir(root) / "predictions").glob("*.json.gz")}
        results = {p.name.removesuffix(".json.gz") for p in (self._dir(root) / "results").glob("*.json.gz")}
        return sorted(preds & results)

    def model_files(self, root: Path, model: str) -> list[Path]:
        return [self._dir(root) / "predictions" / f"{model}.json.gz",
                self._dir(root) / "results" / f"{model}.json.gz"]

    def item_id(self, position: str, prediction: dict, result: dict | None) -> str:
        return position

    def items_from(self, root: Path, model: str) -> list[tuple[str, str]]:
        pred_path, result_path = self.model_files(root, model)
        preds = positional(read_json(pred_path), pred_path)
        results = dict(positional(field(read_json(result_path), "details", result_path, "-"), result_path))
        return [(self.item_id(i, p, results.get(i)), human_turn(field(p, "origin_prompt", pred_path, i)))
                for i, p in preds]

    def read_model(self, root: Path, model: str, items: ItemTable) -> ModelRecords:
        pred_path, result_path = self.model_files(root, model)
        preds = positional(read_json(pred_path), pred_path)
        results = dict(positional(field(read_json(result_path), "details", result_path, "-"), result_path))
        pairs, answers, correct, programs = [], [], [], []
        for pos, pred in preds:
            if pos not in results:
                raise HarnessError(f"{result_path}: item {pos}: no result for this prediction")
            result = results[pos]
            pairs.append((self.item_id(pos, pred, result), human_turn(field(pred, "origin_prompt", pred_path, pos))))
            answers.append(str(field(pred, "prediction", pred_path, pos)))
            correct.append(as_bool(field(result, "is_correct", result_path, pos), result_path, pos))
            programs.append(str(field(result, self.program_field, result_path, pos)))
        self.check_same_items(pred_path, pairs, items)
        rec = self.records(model, result_path, [i for i, _ in pairs], answers, correct)
        rec.native["program"] = np.asarray(programs, dtype=object)
        return rec

    def stored_figure(self, root: Path, model: str) -> float:
        path = self.model_files(root, model)[1]
        return float(field(read_json(path), self.stored_metric, path, "-"))

    def score(self, data, choice, *, seed: int = 0, detail: bool = True) -> dict[str, Any]:
        correct = data.routed("correct", choice)
        return {"score": float(correct.mean() * 100.0), "n_passed": int(correct.sum())}
