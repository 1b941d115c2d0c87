"""Known-answer routing: can a router learn a label it is told?

A small balanced set of real items from the cache (chat, math and code prompts, with every
candidate's real answers) gets a synthetic ground truth that depends on the task alone: chat →
Yi-1.5-34B-Chat, math → internlm2_5-20b-chat, code → Qwen2.5-Coder-7B-Instruct (score 1, the others
0). Any router that can learn should route held-out items of the same tasks to their target after a
few dozen steps; a router whose setup keeps it from learning (an objective whose gradient drowns
routing's, MID tokens it cannot tell apart) routes them all to one candidate. The overfit check
trains on 64 items labelled with their real best candidate and scores the router on those same items.

Used by ``tests/test_known_answer.py`` and ``results/diagnostics.md``
(:mod:`harness.experiments.diagnostics`). Imports: core and ``routers``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core import store
from harness.core.pools import PAPER5
from harness.core.runner import routing_data
from routers import build_router
from routers.base import RouterContext, RoutingData
from routers.labels import binary_labels, informative

TASKS: dict[str, tuple[str, ...]] = {"chat": ("alpacaeval", "arenahard"), "math": ("gsm8k", "math"),
                                     "code": ("humaneval", "mbpp")}
TARGET = {"chat": "Yi-1.5-34B-Chat", "math": "internlm2_5-20b-chat", "code": "Qwen2.5-Coder-7B-Instruct"}
PASS = 0.85  # known-answer accuracy every learned router must reach
OVERFIT_PASS = 0.9  # share of the 64 training items routed to their labelled best candidate


@dataclass
class KnownAnswer:
    train: RoutingData
    test: RoutingData
    target: np.ndarray  # (len(test),) index of each test item's target candidate


def _task_items(pool: list[str]) -> dict[str, RoutingData]:
    out = {}
    for task, benches in TASKS.items():
        out[task] = routing_data({b: store.load(b, pool) for b in benches}, pool)
    return out


def task_data(per_task_train: int = 48, per_task_test: int = 24, seed: int = 0,
              pool: list[str] | None = None) -> KnownAnswer:
    """Balanced train and held-out sets: per task, items drawn evenly from its benchmarks, real
    prompts and answers, score 1 for the task's target candidate and 0 for the others."""
    pool = list(pool or PAPER5)
    rng = np.random.default_rng([seed, 20])
    parts_train, parts_test, targets = [], [], []
    for task, data in _task_items(pool).items():
        benches = np.asarray(data.benchmarks)
        names = TASKS[task]
        picked = []
        for j, name in enumerate(names):  # the task's benchmarks share the draw evenly
            share = (per_task_train + per_task_test) // len(names) + (j < (per_task_train + per_task_test) % len(names))
            picked.append(rng.choice(np.flatnonzero(benches == name), share, replace=False))
        order = rng.permutation(np.concatenate(picked))
        sub = data.subset(order)
        t = pool.index(TARGET[task])
        sub.scores = np.zeros((len(sub), len(pool)))
        sub.scores[:, t] = 1.0
        parts_train.append(sub.subset(np.arange(per_task_train)))
        parts_test.append(sub.subset(np.arange(per_task_train, len(sub))))
        targets += [t] * per_task_test
    return KnownAnswer(_concat(parts_train, rng), _concat(parts_test, None), np.asarray(targets))


def _concat(parts: list[RoutingData], rng: np.random.Generator | None) -> RoutingData:
    data = RoutingData(uids=[u for p in parts for u in p.uids], benchmarks=[b for p in parts for b in p.benchmarks],
                       prompts=[x for p in parts for x in p.prompts], models=list(parts[0].models),
                       responses=[r for p in parts for r in p.responses],
                       scores=np.concatenate([p.scores for p in parts]))
    return data if rng is None else data.subset(rng.permutation(len(data)))  # tasks mixed in every batch


def overfit_items(n: int = 64, seed: int = 0, pool: list[str] | None = None) -> RoutingData:
    """``n`` informative items drawn evenly from the three tasks, each labelled with its real best
    candidate alone (score 1, the others 0; ties to the first in pool order): one positive per item, so
    every router's loss (RouterDC's top-k contrast included) aims at the same choice."""
    pool = list(pool or PAPER5)
    rng = np.random.default_rng([seed, 64])
    parts = []
    for i, data in enumerate(_task_items(pool).values()):
        keep = np.flatnonzero(informative(data.scores))
        parts.append(data.subset(rng.choice(keep, n // 3 + (i < n % 3), replace=False)))
    items = _concat(parts, rng)
    best = np.argmax(items.scores, axis=1)
    items.scores = np.zeros_like(items.scores)
    items.scores[np.arange(len(best)), best] = 1.0
    return items


def build(name: str, profile: str, options: dict[str, Any], pool: list[str], seed: int = 0):
    return build_router(name, RouterContext(models=pool, profile=profile, seed=seed, options=dict(options)))


def known_answer(name: str, profile: str, options: dict[str, Any], data: KnownAnswer, seed: int = 0) -> dict:
    """Fit ``name`` on the known-answer training items; its accuracy on the held-out ones."""
    router = build(name, profile, options, data.train.models, seed)
    started = time.perf_counter()
    router.fit(data.train)
    choice = np.argmax(router.predict(data.test.queries()), axis=1)
    shares = np.bincount(choice, minlength=len(data.train.models)) / len(choice)
    return {"router": name, "profile": profile, "options": dict(options),
            "accuracy": float(np.mean(choice == data.target)), "routing_share": shares.round(3).tolist(),
            "seconds": round(time.perf_counter() - started, 1), "training": _summary(router), "router_obj": router}


def overfit(name: str, profile: str, options: dict[str, Any], items: RoutingData, seed: int = 0) -> dict:
    """Fit on ``items`` (validated on themselves) and route them: share sent to their labelled best
    candidate, against the share of the most frequent one."""
    router = build(name, profile, options, items.models, seed)
    router.fit(items, items)
    choice = np.argmax(router.predict(items.queries()), axis=1)
    labels = binary_labels(items.scores)
    return {"router": name, "accuracy": float(labels[np.arange(len(choice)), choice].mean()),
            "best_single": float(labels.mean(axis=0).max()), "training": _summary(router)}


def _summary(router) -> dict:
    return getattr(router, "training_summary", dict)()
