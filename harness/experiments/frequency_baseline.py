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

from benchmarks import PAPER_BENCHMARKS
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
    return {"family": cfg.get("family"), "models": run["models"], "benchmarks": sorted(run["benchmarks"]),
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
    names = [b for b in PAPER_BENCHMARKS if b in run["benchmarks"]]
    data = routing_data({b: store.load(b, models) for b in names}, models)
    cfg = run["router_config"]
    options = {k: cfg[k] for k in _DECIDING if k in cfg and cfg[k] is not None}
    router = build_router(run["router"], RouterContext(models=models, profile=run["profile"], seed=seed,
                                                       options=options))
    router.tokenizer = load_tokenizer(router.settings["backbone"])  # the model itself is not needed
    out = []
    for split in protocols.splits("cv", data.benchmarks, key["folds"], seed):
        train = data.subset(split.train)
        idx, _ = training_split(train, router.settings, seed)
        out.append(round(float(position_frequency_loss(router.make_examples(train.subset(idx), True))), 4))
    return out


def span(values: list[float] | None) -> str:
    if not values:
        return "–"
    return f"{min(values):.2f}" if max(values) - min(values) < 0.005 else f"{min(values):.2f}–{max(values):.2f}"
