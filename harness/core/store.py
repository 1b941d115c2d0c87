"""The item store: one benchmark for one pool of candidates, parsed once and cached on disk.

Parsed per-model records are pickled under the cache directory, keyed by the sha256 of the files
they came from, the adapter's version and the code of its module (and of what it imports), so a
changed file or parser never serves stale data.
"""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks import get_benchmark
from benchmarks.base import Benchmark, BenchmarkData, ItemTable, ModelRecords
from harness.core import config, data
from harness.core.errors import HarnessError
from harness.core.fingerprint import code_fingerprint
from harness.core.io import atomic_write_bytes


_KEYS: dict[tuple[str, str], str] = {}  # (benchmark, kind) -> key of the table last read


def _cached(kind: str, adapter: Benchmark, files: list[Path], build):
    digests = data.verify(files)
    key = hashlib.sha256(
        "|".join([adapter.name, str(adapter.version), code_fingerprint(type(adapter)), kind, *digests]).encode()
    ).hexdigest()[:20]
    _KEYS[(adapter.name, kind)] = key
    path = config.parsed_cache_dir() / adapter.name / f"{kind}-{key}.pkl"
    if path.exists():
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # a damaged cache entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    value = build()
    atomic_write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return value


def read_items(adapter: Benchmark) -> ItemTable:
    root = config.cache_root()
    return _cached("items", adapter, adapter.item_files(root), lambda: adapter.read_items(root))


def read_model(adapter: Benchmark, model: str, items: ItemTable) -> ModelRecords:
    root = config.cache_root()
    available = adapter.models(root)
    if model not in available:
        raise HarnessError(
            f"model '{model}' is not in the cache for {adapter.name} "
            f"({root / 'test' / adapter.folder}); available: {', '.join(available)}"
        )
    return _cached(f"model-{model}", adapter, adapter.model_files(root, model),
                   lambda: adapter.read_model(root, model, items))


def assemble(adapter: Benchmark, items: ItemTable, records: list[ModelRecords]) -> BenchmarkData:
    """Align candidates on the item table; drop items that not every candidate has."""
    position = {item_id: i for i, item_id in enumerate(items.ids)}
    present = np.ones(len(items.ids), dtype=bool)
    dropped: dict[str, str] = {}
    for rec in records:
        has = np.zeros(len(items.ids), dtype=bool)
        for item_id in rec.ids:
            if item_id not in position:
                raise HarnessError(
                    f"{rec.source}: item {item_id} of model '{rec.model}' is not in the "
                    f"{adapter.name} item table (mismatched item ids between candidates)"
                )
            has[position[item_id]] = True
        for i in np.flatnonzero(~has & present):
            dropped[items.ids[i]] = f"no answer from {rec.model}"
        present &= has
    keep = np.flatnonzero(present)
    n, t = len(keep), len(records)
    native_fields = records[0].native.keys() if records else []
    native = {f: np.empty((n, t), dtype=records[0].native[f].dtype) for f in native_fields}
    gt = np.empty((n, t), dtype=np.float64)
    answers: dict[str, list[str]] = {}
    for j, rec in enumerate(records):
        row_of = {item_id: r for r, item_id in enumerate(rec.ids)}
        rows = np.array([row_of[items.ids[i]] for i in keep], dtype=np.int64)
        for f in native_fields:
            native[f][:, j] = rec.native[f][rows]
        gt[:, j] = rec.gt[rows]
        answers[rec.model] = [rec.answers[r] for r in rows]
    return BenchmarkData(
        name=adapter.name,
        models=[rec.model for rec in records],
        ids=[items.ids[i] for i in keep],
        prompts=[items.prompts[i] for i in keep],
        meta={k: [v[i] for i in keep] for k, v in items.meta.items()},
        answers=answers,
        native=native,
        gt=gt,
        dropped=dropped,
        positions=keep,
    )


_memo: dict[tuple, BenchmarkData] = {}
_data_keys: dict[tuple, str] = {}


def data_key(benchmark: str, models: Sequence[str]) -> str:
    """A key naming the exact data :func:`load` returned for this pool: the files it was parsed
    from (their content), the parser's code and the pool's order. Keys caches of scores."""
    key = (benchmark, tuple(models), str(config.cache_root()))
    if key not in _data_keys:
        load(benchmark, models)
    return _data_keys[key]


def load(benchmark: str, models: Sequence[str]) -> BenchmarkData:
    """The benchmark's data for the pool ``models`` (in that order)."""
    if len(set(models)) != len(models):
        raise HarnessError(f"pool lists a model twice: {','.join(models)}")
    key = (benchmark, tuple(models), str(config.cache_root()))
    if key not in _memo:
        data.ensure()
        adapter = get_benchmark(benchmark)
        items = read_items(adapter)
        records = [read_model(adapter, m, items) for m in models]
        _memo[key] = assemble(adapter, items, records)
        parts = [_KEYS[(adapter.name, "items")], *(_KEYS[(adapter.name, f"model-{m}")] for m in models)]
        _data_keys[key] = hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]
    return _memo[key]


def clear_memo() -> None:
    _memo.clear()
    _data_keys.clear()  # their keys name what the memo held (a re-read benchmark file gets new ones)
