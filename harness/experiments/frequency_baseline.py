"""The position-frequency baseline of a Lookahead run's response loss, for runs written before the
trainer recorded it (``response_frequency_loss`` per fold, routers/neural.py).

The baseline is the loss of predicting each response token from its position alone, on the training
items a fold's fit used: the same cv split, the same capped and seeded training split, the router's
own tokenizer and truncation. It depends on no weights, so it is recomputed from the data and the
run's recorded settings and kept under ``data/cache/diagnostics/`` (a few seconds a fold).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.core import config, protocols, store
from harness.core.io import atomic_write_text
from harness.core.runner import routing_data
from routers import build_router
from routers.backbones import load_tokenizer
from routers.base import RouterContext
from routers.neural import position_frequency_loss, training_split

# The recorded settings that decide a fold's training responses (the rest change only the weights)
_DECIDING = ("backbone", "cap_per_benchmark", "max_train_items", "valid_fraction", "max_query_len", "span",
             "max_response_len")


def _key(run: dict[str, Any]) -> dict[str, Any]:
    cfg = run.get("router_config", {})
    # the run's own benchmark order: without a per-benchmark cap the training split depends on it
    return {"family": cfg.get("family"), "models": run["models"], "benchmarks": list(run["benchmarks"]),
            "folds": run.get("config", {}).get("folds", 5), "seed": run["seed"],
            **{k: cfg.get(k) for k in _DECIDING}}


def _path(key: dict[str, Any]):
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return config.parsed_cache_dir() / "diagnostics" / f"frequency_baseline__{digest}.json"


def fold_baselines(run: dict[str, Any]) -> list[float] | None:
    """Per cv fold of a Lookahead run file: the position-frequency loss of its fit's training responses
    (recorded figures when the run has them, else recomputed and cached). None for other routers."""
    recorded = [t.get("response_frequency_loss") for t in run.get("routing", {}).get("training") or []]
    if recorded and all(v is not None for v in recorded):
        return [float(v) for v in recorded]
    if run.get("protocol") != "cv" or run.get("router_config", {}).get("family") not in ("LookaheadMLM",
                                                                                           "LookaheadCLM"):
        return None
    key = _key(run)
    path = _path(key)
    if path.exists():
        return json.loads(path.read_text())
    values = _compute(run, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(values))
    return values


def _compute(run: dict[str, Any], key: dict[str, Any]) -> list[float]:
    models, seed = list(run["models"]), int(run["seed"])
    data = routing_data({b: store.load(b, models) for b in key["benchmarks"]}, models)
    cfg = run["router_config"]
    options = {k: cfg[k] for k in _DECIDING if k in cfg}  # None too: e.g. cap_per_benchmark=none
    # router_config's profile is the bare name (the run's label may carry its OPTIONS)
    router = build_router(run["router"], RouterContext(models=models, profile=cfg.get("profile", run["profile"]),
                                                       seed=seed, options=options))
    router.tokenizer = load_tokenizer(router.settings["backbone"])  # the model itself is not needed
    out = []
    for split in protocols.splits("cv", data.benchmarks, key["folds"], seed):
        train = data.subset(split.train)
        idx, _ = training_split(train, router.settings, seed)
        out.append(round(float(position_frequency_loss(router.make_examples(train.subset(idx), True))), 4))
    return out


def full_mask_lows(run: dict[str, Any]) -> list[float | None]:
    """Per fold: the lowest response loss once every response position is masked, the like-for-like
    figure for the baseline (recorded by runs since it existed; else the lowest tenth of the loss curve
    past the curriculum, which masks fewer positions before progress ``curriculum_alpha``)."""
    cfg = run.get("router_config", {})
    start = 0.0
    if cfg.get("family") == "LookaheadMLM" and cfg.get("lam") and cfg.get("curriculum", True):
        start = float(cfg.get("curriculum_alpha") or 0.0)
    out: list[float | None] = []
    for fold in run.get("routing", {}).get("training") or []:
        if fold.get("response_loss_min_full_mask") is not None:
            out.append(float(fold["response_loss_min_full_mask"]))
            continue
        curve = fold.get("response_loss_curve") or []
        past = [v for i, v in enumerate(curve) if i / len(curve) >= start]
        out.append(min(past) if past else None)
    return out


def untrained(run: dict[str, Any]) -> tuple[int, int, list[float], list[float]]:
    """(folds whose full-mask response loss is not below the position-only baseline, folds compared,
    those folds' full-mask losses, the baselines); (0, 0, [], []) for routers without a response loss."""
    lows = full_mask_lows(run)
    if not any(v is not None for v in lows):
        return 0, 0, [], []
    bases = fold_baselines(run) or []
    pairs = [(lo, b) for lo, b in zip(lows, bases) if lo is not None]
    return sum(lo >= b for lo, b in pairs), len(pairs), [lo for lo, _ in pairs], [b for _, b in pairs]


def span(values: list[float] | None) -> str:
    if not values:
        return "–"
    return f"{min(values):.2f}" if max(values) - min(values) < 0.005 else f"{min(values):.2f}–{max(values):.2f}"
