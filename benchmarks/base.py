"""The benchmark adapter protocol.

An adapter knows one benchmark's files in the released cache and its native metric. It reads
(1) the item table and (2) one candidate model's records, each into plain arrays; the store
(:mod:`harness.core.store`) aligns candidates, drops items not every candidate has, and caches the
parsed arrays on disk. Scoring is then a pure function of a per-item choice vector:

    data = harness.core.store.load("gsm8k", ["Yi-1.5-34B-Chat", "gemma-2-9b-it"])
    adapter.score(data, choice)   # -> {"score": 88.4, ...}, choice[i] = index into data.models

Adding a benchmark = one module with a subclass of :class:`Benchmark` decorated with
``@register_benchmark("name")`` (see :mod:`benchmarks`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ItemTable:
    """The benchmark's items in their canonical order."""

    ids: list[str]
    prompts: list[str]  # first-turn prompt: all a router may see of the item
    meta: dict[str, list[Any]] = field(default_factory=dict)  # e.g. MT-Bench category


@dataclass
class ModelRecords:
    """One candidate's records, aligned to its own ``ids`` (a subset of the item table's)."""

    model: str
    source: str  # the file the records came from, for error messages
    ids: list[str]
    answers: list[str]  # first-turn answer text
    native: dict[str, np.ndarray]  # per-item fields of the native metric (verdicts, turn scores...)
    gt: np.ndarray  # one scalar ground-truth score per item (oracle, training labels)


@dataclass
class BenchmarkData:
    """A benchmark for one pool: items every candidate has, matrices of shape (n_items, n_models)."""

    name: str
    models: list[str]
    ids: list[str]
    prompts: list[str]
    meta: dict[str, list[Any]]
    answers: dict[str, list[str]]  # model -> answer per item
    native: dict[str, np.ndarray]  # field -> (n_items, n_models)
    gt: np.ndarray  # (n_items, n_models)
    dropped: dict[str, str]  # item id -> why it was dropped
    positions: np.ndarray  # each kept item's position in the full item table

    @property
    def n_items(self) -> int:
        return len(self.ids)

    def routed(self, name: str, choice: np.ndarray) -> np.ndarray:
        """The chosen candidate's value of a native field, per item."""
        return self.native[name][np.arange(self.n_items), choice]

    def fixed_choice(self, model_index: int) -> np.ndarray:
        return np.full(self.n_items, model_index, dtype=np.int64)

    def oracle_choice(self) -> np.ndarray:
        """Per item the best ground-truth score; ``np.argmax`` gives ties to the first in pool order."""
        return np.argmax(self.gt, axis=1)


class Benchmark:
    """Base class of benchmark adapters. Subclasses set the class attributes and implement the
    four methods; ``version`` must change whenever parsing changes (it keys the disk cache)."""

    name: str = ""
    title: str = ""  # as printed in the paper's table
    metric: str = ""  # the native metric's name, e.g. "lc_win_rate"
    folder: str = ""  # folder under compressed_data/test/
    version: int = 1

    def models(self, root: Path) -> list[str]:
        """Candidates the cache holds for this benchmark."""
        raise NotImplementedError

    def item_files(self, root: Path) -> list[Path]:
        raise NotImplementedError

    def model_files(self, root: Path, model: str) -> list[Path]:
        raise NotImplementedError

    def read_items(self, root: Path) -> ItemTable:
        raise NotImplementedError

    def read_model(self, root: Path, model: str, items: ItemTable) -> ModelRecords:
        raise NotImplementedError

    def score(self, data: BenchmarkData, choice: np.ndarray, *, seed: int = 0,
              detail: bool = True) -> dict[str, Any]:
        """Native metric of the routed mix: ``{"score": float, ...}``; ``detail=False`` may skip
        slow extras (intervals) when only the headline number is needed."""
        raise NotImplementedError


def accuracy_percent(values: np.ndarray) -> float:
    return float(np.mean(values) * 100.0)
