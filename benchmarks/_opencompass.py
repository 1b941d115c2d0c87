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
from benchmarks._fields import at_item, bad, get, number, record, text
from harness.core.errors import HarnessError
from harness.core.io import read_json


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


def as_bool(value: Any, path: Path, item: str, name: str = "correct") -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)) and value in ("True", "true", 1):
        return True
    if isinstance(value, (str, int)) and value in ("False", "false", 0):
        return False
    raise bad(at_item(path, item), name, "a boolean verdict", value)


def prompt_of(detail: Any, name: str, path: Path, item: str) -> str:
    """The human turn of an item's prompt field (a list of chat turns, or its repr)."""
    prompt = get(detail, name, at_item(path, item))
    if not isinstance(prompt, (str, list)):
        raise bad(at_item(path, item), name, "a prompt (a string or a list of chat turns)", prompt)
    return human_turn(prompt)


def details_of(path: Path) -> list[tuple[str, dict]]:
    """The items of an OpenCompass results file (its ``details``), in positional order."""
    return positional(get(read_json(path), "details", str(path)), path)


def positional(details: Any, path: Path) -> list[tuple[str, dict]]:
    """Items of an OpenCompass ``details`` mapping in positional order, checked to be 0..n-1."""
    if isinstance(details, list):
        pairs = [(str(i), d) for i, d in enumerate(details)]
    elif isinstance(details, dict):
        keys = sorted(details, key=lambda k: int(k) if str(k).isdigit() else -1)
        if [str(k) for k in keys] != [str(i) for i in range(len(keys))]:
            raise HarnessError(f"{path}: item keys are not the positions 0..{len(keys) - 1}")
        pairs = [(str(k), details[k]) for k in keys]
    else:
        raise HarnessError(f"{path}: 'details' must be a mapping of item positions")
    for key, detail in pairs:  # every item a JSON object, so field reads name the field
        record(detail, at_item(path, key))
    return pairs


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

    def items_from(self, root: Path, model: str) -> list[tuple[str, str]]:
        path = self.model_files(root, model)[0]
        return [(i, prompt_of(d, "prompt", path, i)) for i, d in details_of(path)]

    def read_model(self, root: Path, model: str, items: ItemTable) -> ModelRecords:
        path = self.model_files(root, model)[0]
        details = details_of(path)
        self.check_same_items(path, [(i, prompt_of(d, "prompt", path, i)) for i, d in details], items)
        details = [(i, d) for i, d in details if d.get("omitted") is not True]  # left out by an import: pools drop it
        return self.records(model, path, [i for i, _ in details],
                            [text(d, "origin_prediction", at_item(path, i)) for i, d in details],
                            [as_bool(get(d, "correct", at_item(path, i)), path, i) for i, d in details])

    def stored_figure(self, root: Path, model: str) -> float:
        """The metric as the cache file itself states it (a self-check)."""
        path = self.model_files(root, model)[0]
        return number(read_json(path), self.stored_metric, str(path))

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
        results = dict(details_of(result_path))
        return [(self.item_id(i, p, results.get(i)), prompt_of(p, "origin_prompt", pred_path, i))
                for i, p in preds]

    def read_model(self, root: Path, model: str, items: ItemTable) -> ModelRecords:
        pred_path, result_path = self.model_files(root, model)
        preds = positional(read_json(pred_path), pred_path)
        results = dict(details_of(result_path))
        pairs, ids, answers, correct, programs = [], [], [], [], []
        for pos, pred in preds:
            if pos not in results:
                raise HarnessError(f"{result_path}: item {pos}: no result for this prediction")
            result = results[pos]
            pairs.append((self.item_id(pos, pred, result), prompt_of(pred, "origin_prompt", pred_path, pos)))
            if result.get("omitted") is True:  # left out by an import (--allow-missing): pools drop it
                continue
            ids.append(pairs[-1][0])
            answers.append(text(pred, "prediction", at_item(pred_path, pos)))
            correct.append(as_bool(get(result, "is_correct", at_item(result_path, pos)), result_path, pos, "is_correct"))
            programs.append(text(result, self.program_field, at_item(result_path, pos)))
        self.check_same_items(pred_path, pairs, items)
        rec = self.records(model, result_path, ids, answers, correct)
        rec.native["program"] = np.asarray(programs, dtype=object)
        return rec

    def stored_figure(self, root: Path, model: str) -> float:
        path = self.model_files(root, model)[1]
        return number(read_json(path), self.stored_metric, str(path))

    def score(self, data, choice, *, seed: int = 0, detail: bool = True) -> dict[str, Any]:
        correct = data.routed("correct", choice)
        return {"score": float(correct.mean() * 100.0), "n_passed": int(correct.sum())}
