"""How learned routers are trained and tested: fold by fold on the benchmarks' own items.

- ``cv``: seeded K-fold cross-validation over the pooled items of the benchmarks, stratified by
  benchmark; each fold's router is fitted on the other folds. It rewards recognising the task too.
- ``within``: the same folds, but each benchmark separately: fold f of benchmark b trains on b's
  other folds only (K fits per benchmark). The router never has to tell benchmarks apart, so what it
  gains over the benchmark's best single model on the training folds is per-query skill.
- ``lobo``: leave one benchmark out: train on the others, test on the held-out one, each in turn.
  Generalisation to an unseen task; the reference is the best single model on the training benchmarks.

Every item gets exactly one held-out prediction. Fold predictions are cached on disk under a key of
everything the fit depends on (router, config, code, pool, split, data), so an interrupted run
resumes at the first unfinished fold. Under ``within`` and ``lobo`` each fold also records its
single-model reference (:func:`single_best` on the training items), which the reports compare
routers against. Fold construction reads the benchmark labels; ``predict`` never sees them.
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from harness.core import config
from harness.core.data import manifest_hash
from harness.core.errors import HarnessError
from harness.core.fingerprint import code_fingerprint
from harness.core.io import atomic_write_bytes, atomic_write_text
from routers.base import Router, RoutingData

PROTOCOLS = ["cv", "within", "lobo", "paper"]
FOLD_PROTOCOLS = ("cv", "within", "lobo")  # trained and tested fold by fold on the test benchmarks
REFERENCE_RULE = ("the best single model on the fold's training items: per training benchmark, each "
                  "candidate's mean ground-truth score min-max scaled across candidates, averaged over the "
                  "benchmarks (one benchmark under within: its best mean score); ties to the first in pool order")


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


@dataclass(frozen=True)
class Split:
    """One fit: train on ``train``, predict ``test`` (item indices into the pooled data)."""

    key: int | str  # keys the fold cache: cv's fold number (as before), else "<protocol>:<benchmark>[:<fold>]"
    label: str  # for progress lines
    train: np.ndarray
    test: np.ndarray


def splits(protocol: str, benchmarks: list[str], k: int, seed: int) -> list[Split]:
    """The fits of a fold protocol, in order; their test sets partition the items."""
    labels = np.asarray(benchmarks)
    names = list(dict.fromkeys(benchmarks))  # the run's order
    if protocol == "cv":
        folds = cv_folds(benchmarks, k, seed)
        return [Split(f, f"fold {f + 1}/{k}", np.flatnonzero(folds != f), np.flatnonzero(folds == f))
                for f in range(k)]
    if protocol == "within":
        folds = cv_folds(benchmarks, k, seed)  # cv's folds: only the other benchmarks leave training
        out = []
        for name in names:
            mine = labels == name
            if mine.sum() < k:
                raise HarnessError(f"PROTOCOL=within: benchmark '{name}' has {int(mine.sum())} item(s), "
                                   f"fewer than FOLDS={k}")
            out += [Split(f"within:{name}:{f}", f"{name} fold {f + 1}/{k}", np.flatnonzero(mine & (folds != f)),
                          np.flatnonzero(mine & (folds == f))) for f in range(k)]
        return out
    if protocol == "lobo":
        if len(names) < 2:
            raise HarnessError("PROTOCOL=lobo needs at least two benchmarks (train on the others, test on "
                               f"each in turn); got {', '.join(names) or 'none'}")
        return [Split(f"lobo:{name}", f"held-out {name} ({i + 1}/{len(names)})", np.flatnonzero(labels != name),
                      np.flatnonzero(labels == name)) for i, name in enumerate(names)]
    raise HarnessError(f"protocol '{protocol}' is not trained fold by fold (fold protocols: {', '.join(FOLD_PROTOCOLS)})")


def single_best(scores: np.ndarray, benchmarks: list[str] | np.ndarray) -> int:
    """The candidate that is best on these (training) items as one model for all of them (see
    ``REFERENCE_RULE``): raw scales differ across benchmarks, so each benchmark's candidate means are
    min-max scaled before they are averaged, and every benchmark weighs the same."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(benchmarks)
    if len(scores) == 0:
        raise HarnessError("no training items to pick a single best model from")
    scaled = []
    for name in dict.fromkeys(labels.tolist()):
        means = scores[labels == name].mean(axis=0)
        span = means.max() - means.min()
        scaled.append((means - means.min()) / span if span > 0 else np.zeros_like(means))
    return int(np.argmax(np.mean(scaled, axis=0)))


def check_scores(scores: np.ndarray, n: int, t: int, router: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (n, t):
        raise HarnessError(f"router '{router}' returned scores of shape {scores.shape}, expected ({n}, {t})")
    if not np.isfinite(scores).all():
        raise HarnessError(f"router '{router}' returned non-finite scores")
    return scores


def data_digest(data: RoutingData) -> str:
    """The items a fit can see (ids, prompts, answers and scores): a benchmark file of one's own
    edited under the same name, or a re-parsed cache, gets new fold keys."""
    digest = hashlib.sha256()
    for part in (data.uids, data.prompts, data.models):
        digest.update("\x1f".join(map(str, part)).encode() + b"\x1e")
    for answers in data.responses or []:
        digest.update("\x1f".join(map(str, answers)).encode() + b"\x1e")
    if data.scores is not None:
        digest.update(np.ascontiguousarray(data.scores, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _fold_cache_key(router: Router, router_name: str, data: RoutingData, fold: int | str, k: int,
                    seed: int, digest: str | None = None) -> str:
    """Everything a fold's fit depends on: the router (name, config and the code of its module and
    of what it imports), the pool, the fold layout, the data, and this module's code."""
    code = code_fingerprint(type(router), __name__)
    blob = json.dumps([router_name, router.config(), data.models, fold, k, seed, manifest_hash(),
                       digest or data_digest(data), code], sort_keys=True, default=str)
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
    """``cv``: out-of-fold scores (n, T), the fold of every item, and per-fold training summaries."""
    scores, summaries = run_splits(make_router, router_name, data, splits("cv", data.benchmarks, k, seed), k,
                                   seed, progress=progress)
    return scores, cv_folds(data.benchmarks, k, seed), summaries


def route_folds(make_router: Callable[[], Router], router_name: str, data: RoutingData, protocol: str, k: int,
                seed: int, progress: bool = True) -> tuple[np.ndarray, dict]:
    """Held-out scores (n, T) under a fold protocol, and what the run file records of it. Under
    ``within`` and ``lobo`` the info holds ``reference_choice``: each item's single-model reference,
    chosen on the training items of the fold that predicted it."""
    parts = splits(protocol, data.benchmarks, k, seed)
    scores, summaries = run_splits(make_router, router_name, data, parts, k if protocol != "lobo" else 0, seed,
                                   progress=progress, tag=protocol)
    info: dict = {"folds": len(parts) if protocol == "lobo" else k, "training": summaries,
                  "fold_sizes": [int(len(s.test)) for s in parts]}
    if protocol != "cv":
        reference = np.full(len(data), -1, dtype=np.int64)
        for split, summary in zip(parts, summaries):
            best = single_best(data.scores[split.train], np.asarray(data.benchmarks)[split.train])
            reference[split.test] = best
            summary["reference"] = data.models[best]
        info.update(reference_rule=REFERENCE_RULE, reference_choice=reference)
    return scores, info


def run_splits(make_router: Callable[[], Router], router_name: str, data: RoutingData, parts: list[Split],
               k: int, seed: int, progress: bool = True, tag: str = "cv") -> tuple[np.ndarray, list[dict]]:
    """Fit a fresh router per split and predict its test items (prompts only).

    Each split's predictions (and fitted router, where it can be saved) are cached under a key of
    (router, config, router code, pool, split, folds, seed, data manifest, items): a re-run of
    unchanged code does not retrain (it says so per fold), an edited router is retrained, and an
    interrupted run resumes at the first unfinished fold.
    """
    scores = np.zeros((len(data), len(data.models)))
    cache_dir = config.parsed_cache_dir() / "folds"
    digest = data_digest(data)
    summaries: list[dict] = []
    fold_times: list[float] = []  # folds fitted in this process, for the ETA
    for number, split in enumerate(parts):
        router = make_router()
        key = _fold_cache_key(router, router_name, data, split.key, k, seed, digest)
        cached, meta = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
        if cached.exists():
            scores[split.test] = np.load(cached)
            summary = json.loads(meta.read_text()) if meta.exists() else {"fold": split.key}
            summaries.append(summary)
            if progress:
                when = summary.get("trained") or time.strftime("%Y-%m-%d %H:%M", time.localtime(cached.stat().st_mtime))
                print(f"{tag}: {split.label}: re-using {router_name}'s fit of {when} (same code, config "
                      f"and data; cache {cached.name})", file=sys.stderr)
            continue
        if progress:
            print(f"{tag}: {split.label}: fitting {router_name} on {len(split.train)} items, "
                  f"predicting {len(split.test)}{_eta(fold_times, len(parts) - number)}", file=sys.stderr)
        started = time.perf_counter()
        router.fit(data.subset(split.train))
        fit_seconds = time.perf_counter() - started
        shown = data.subset(split.test).queries(benchmark_label=router.uses_benchmark_label)
        fold_scores = check_scores(router.predict(shown), len(split.test), len(data.models), router_name)
        scores[split.test] = fold_scores
        summary = {"fold": split.key, "trained": time.strftime("%Y-%m-%d %H:%M"), "fit_seconds": round(fit_seconds, 1),
                   "predict_seconds": round(time.perf_counter() - started - fit_seconds, 1),
                   "n_train": int(len(split.train)), "n_test": int(len(split.test)), "cache_key": key,
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
    return scores, [dict(s) for s in summaries]
