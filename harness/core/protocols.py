"""How learned routers are trained and tested.

``cv``: seeded K-fold cross-validation over the pooled items of the benchmarks, stratified by
benchmark; each fold's router is fitted on the other folds and predicts the held-out items, so
every item gets exactly one out-of-fold choice. Fold predictions are cached on disk, so an
interrupted run resumes at the first unfinished fold.
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from harness.core import config
from harness.core.data import manifest_hash
from harness.core.errors import HarnessError
from harness.core.fingerprint import code_fingerprint
from harness.core.io import atomic_write_bytes, atomic_write_text
from routers.base import Router, RoutingData

PROTOCOLS = ["cv", "paper"]


def check_protocol(name: str) -> str:
    if name not in PROTOCOLS:
        raise HarnessError(f"unknown protocol '{name}' (known: {', '.join(PROTOCOLS)})")
    return name


def cv_folds(benchmarks: list[str], k: int, seed: int) -> np.ndarray:
    """Fold index per item: items of each benchmark shuffled (seeded) and dealt round-robin."""
    if k < 2:
        raise HarnessError(f"FOLDS={k}: cross-validation needs at least 2 folds")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(benchmarks), dtype=np.int64)
    labels = np.asarray(benchmarks)
    offset = 0
    for name in sorted(set(benchmarks)):
        index = np.flatnonzero(labels == name)
        rng.shuffle(index)
        folds[index] = (np.arange(len(index)) + offset) % k
        offset += len(index)  # keeps fold sizes balanced across benchmarks
    return folds


def check_scores(scores: np.ndarray, n: int, t: int, router: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (n, t):
        raise HarnessError(f"router '{router}' returned scores of shape {scores.shape}, expected ({n}, {t})")
    if not np.isfinite(scores).all():
        raise HarnessError(f"router '{router}' returned non-finite scores")
    return scores


def _fold_cache_key(router: Router, router_name: str, data: RoutingData, fold: int, k: int,
                    seed: int) -> str:
    """Everything a fold's fit depends on: the router (name, config and the code of its module and
    of what it imports), the pool, the fold layout, the data, and this module's code."""
    code = code_fingerprint(type(router), __name__)
    blob = json.dumps([router_name, router.config(), data.models, fold, k, seed, manifest_hash(),
                       hashlib.sha256("\n".join(data.uids).encode()).hexdigest(), code],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def fitted_router_path(key: str) -> Path:
    """Where a fold's fitted router is kept (routers with save/load), for re-use by `cost`."""
    return config.parsed_cache_dir() / "routers" / f"{key}.pt"


def _eta(fold_times: list[float], folds_left: int) -> str:
    if not fold_times:
        return ""
    minutes = sum(fold_times) / len(fold_times) * folds_left / 60
    return f" (about {minutes:.0f} min left for {folds_left} fold(s), from the folds done)"


def cross_validate(make_router: Callable[[], Router], router_name: str, data: RoutingData, k: int,
                   seed: int, progress: bool = True) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Out-of-fold scores (n, T), the fold of every item, and per-fold training summaries.

    Each fold's predictions (and fitted router, where it can be saved) are cached under a key of
    (router, config, router code, pool, fold, folds, seed, data manifest, items): a re-run of
    unchanged code does not retrain (it says so per fold), an edited router is retrained, and an
    interrupted run resumes at the first unfinished fold.
    """
    folds = cv_folds(data.benchmarks, k, seed)
    scores = np.zeros((len(data), len(data.models)))
    cache_dir = config.parsed_cache_dir() / "folds"
    summaries: list[dict] = []
    fold_times: list[float] = []  # folds fitted in this process, for the ETA
    for fold in range(k):
        test_idx = np.flatnonzero(folds == fold)
        train_idx = np.flatnonzero(folds != fold)
        router = make_router()
        key = _fold_cache_key(router, router_name, data, fold, k, seed)
        cached, meta = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
        if cached.exists():
            scores[test_idx] = np.load(cached)
            summary = json.loads(meta.read_text()) if meta.exists() else {"fold": fold}
            summaries.append(summary)
            if progress:
                when = summary.get("trained") or time.strftime("%Y-%m-%d %H:%M", time.localtime(cached.stat().st_mtime))
                print(f"cv: fold {fold + 1}/{k}: re-using {router_name}'s fit of {when} (same code, config "
                      f"and data; cache {cached.name})", file=sys.stderr)
            continue
        if progress:
            print(f"cv: fold {fold + 1}/{k}: fitting {router_name} on {len(train_idx)} items, "
                  f"predicting {len(test_idx)}{_eta(fold_times, k - fold)}", file=sys.stderr)
        started = time.perf_counter()
        router.fit(data.subset(train_idx))
        fit_seconds = time.perf_counter() - started
        shown = data.subset(test_idx).queries(benchmark_label=router.uses_benchmark_label)
        fold_scores = check_scores(router.predict(shown), len(test_idx),
                                   len(data.models), router_name)
        scores[test_idx] = fold_scores
        summary = {"fold": fold, "trained": time.strftime("%Y-%m-%d %H:%M"), "fit_seconds": round(fit_seconds, 1),
                   "predict_seconds": round(time.perf_counter() - started - fit_seconds, 1),
                   "n_train": int(len(train_idx)), "n_test": int(len(test_idx)), "cache_key": key,
                   **getattr(router, "training_summary", dict)()}
        summaries.append(summary)
        fold_times.append(time.perf_counter() - started)
        from harness.core import distributed

        if not distributed.is_main_process():
            continue  # under torchrun every process fits the same router; one writes it
        if hasattr(router, "save"):
            router.save(fitted_router_path(key))
        buf = io.BytesIO()
        np.save(buf, fold_scores)
        atomic_write_text(meta, json.dumps(summary))
        atomic_write_bytes(cached, buf.getvalue())  # written last: its presence marks the fold done
    return scores, folds, summaries
