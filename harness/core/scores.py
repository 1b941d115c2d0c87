"""A benchmark's native score of one routing, cached on disk.

Scoring is deterministic given the data, the pool, the choice per item, the seed and the code, so
the result is kept under a key of all of them (plus AlpacaEval's calibration file): re-running an
unchanged router, or the references of a pool (each candidate alone, the oracle), costs a file
read instead of, e.g., refitting alpaca_eval's length-controlled GLM (~0.3 s a call).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from benchmarks.base import Benchmark, BenchmarkData
from harness.core import config, store
from harness.core.fingerprint import code_fingerprint
from harness.core.io import atomic_write_text


def _key(adapter: Benchmark, data: BenchmarkData, choice: np.ndarray, options: dict[str, Any]) -> str:
    calibration = ""
    if adapter.name == "alpacaeval":  # LC's GLM is fitted with the calibration rows too
        from benchmarks.alpacaeval import calibration_file

        calibration = calibration_file()[1]
    digest = hashlib.sha256()
    for part in (adapter.name, store.data_key(adapter.name, data.models), code_fingerprint(type(adapter), __name__),
                 json.dumps(options, sort_keys=True), calibration):
        digest.update(f"{part}|".encode())
    digest.update(np.ascontiguousarray(choice, dtype=np.int64).tobytes())
    return digest.hexdigest()[:24]


def score(adapter: Benchmark, data: BenchmarkData, choice: np.ndarray, **options: Any) -> dict[str, Any]:
    """``adapter.score(data, choice, **options)``, from the cache when the same routing was scored."""
    path = config.parsed_cache_dir() / "scores" / adapter.name / f"{_key(adapter, data, choice, options)}.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # a damaged entry is recomputed, never trusted
    result = adapter.score(data, choice, **options)
    try:
        atomic_write_text(path, json.dumps(result))
    except TypeError:  # details that JSON cannot hold: not cached
        pass
    return result
