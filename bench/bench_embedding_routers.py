"""Pretrained-embedding routers (knn, kmeans, smoothie) and task_best, cpu profile: fit time and
samples/s on one cv split of paper5 (fold 1 of 5, seed 0), using the on-disk embedding cache, plus
the encoder's cold throughput (cache bypassed) on a small sample of prompts and responses.

    .venv/bin/python bench/bench_embedding_routers.py [--profile cpu] [--cold-sample 64]

With a cold cache the first router's fit also embeds every training text (the figure says so).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks import PAPER_BENCHMARKS
from harness.core import store
from harness.core.pools import PAPER5
from harness.core.protocols import cv_folds
from harness.core.runner import routing_data
from routers import build_router
from routers.base import RouterContext
from routers.encoders import encoder_for, text_key

ROUTERS = ["knn", "kmeans", "smoothie", "task_best"]


def cache_coverage(encoder, texts: list[str]) -> float:
    store_ = encoder.store
    store_.refresh()
    keys = {text_key(t) for t in texts}
    return sum(k in store_ for k in keys) / max(len(keys), 1)


def cold_throughput(encoder, texts: list[str]) -> float:
    encoder.use_cache = False
    encoder.encode(texts[:4])  # load the model and warm up
    start = time.perf_counter()
    encoder.encode(texts)
    encoder.use_cache = True
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--cold-sample", type=int, default=64, help="texts per kind for the cold figure")
    args = parser.parse_args()

    data = routing_data({b: store.load(b, PAPER5) for b in PAPER_BENCHMARKS}, PAPER5)
    folds = cv_folds(data.benchmarks, 5, seed=0)
    train, test = data.subset(np.flatnonzero(folds != 0)), data.subset(np.flatnonzero(folds == 0)).queries()
    encoder = encoder_for(args.profile, {}, progress=False)
    responses = [r for rs in train.responses for r in rs]
    print(f"profile {args.profile}: encoder {encoder.spec.name} (max {encoder.spec.max_length} tokens); "
          f"cv fold 1/5: {len(train)} training items, {len(test)} test items")
    covered = (cache_coverage(encoder, data.prompts), cache_coverage(encoder, responses))
    print(f"embedding cache coverage: prompts {covered[0]:.0%}, training responses {covered[1]:.0%}")

    rng = np.random.default_rng(0)
    sample = rng.choice(len(data), args.cold_sample, replace=False)
    prompts = [data.prompts[i] for i in sample]
    answers = [data.responses[i][int(rng.integers(len(PAPER5)))] for i in sample]
    print(f"cold encode (cache bypassed, batch 32): prompts {cold_throughput(encoder, prompts):.1f} texts/s, "
          f"responses {cold_throughput(encoder, answers):.1f} texts/s ({args.cold_sample} each)")

    print(f"{'router':<10} {'fit s':>8} {'train items/s':>14} {'predict s':>10} {'queries/s':>10}  note")
    for name in ROUTERS:
        router = build_router(name, RouterContext(models=PAPER5, seed=0, profile=args.profile))
        start = time.perf_counter()
        router.fit(train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        router.predict(test)
        predict_s = time.perf_counter() - start
        note = "no encoder" if name == "task_best" else (
            "embeddings from the cache" if min(covered) == 1 else "includes encoding what the cache lacked")
        print(f"{name:<10} {fit_s:8.2f} {len(train) / fit_s:14.0f} {predict_s:10.2f} {len(test) / predict_s:10.0f}  {note}")


if __name__ == "__main__":
    main()
