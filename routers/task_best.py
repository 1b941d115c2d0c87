"""``task_best``: per benchmark, the candidate with the best mean ground-truth score on the training
items of that benchmark.

A reference, not a learned router: it reads ``items.benchmarks``, which learned routers must not use
(they see the prompt only). It marks what "recognise the task, pick its best model" is worth: a
learned router has to beat it to show per-query skill. It learns from the training folds
(``learns = True``), so under ``cv`` it never sees a held-out item's scores.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from harness.core.errors import HarnessError
from routers import register_router
from routers.base import Router, RouterContext, RoutingData
from routers.encoders import check_profile
from routers.labels import per_item_normalized


@register_router("task_best")
class TaskBestRouter(Router):
    """Scores = the training mean of each candidate's raw ground-truth score on the item's benchmark
    (argmax: the best candidate of that benchmark, ties to the first in pool order). A benchmark
    absent from training falls back to the mean per-item min-max normalized score over all training
    items (raw scales differ across benchmarks); under ``cv`` every benchmark is present."""

    learns = True
    VERSION = 1  # keys the cv fold cache
    uses_benchmark_label = True  # a reference that routes by task: it is told each item's benchmark

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        check_profile(ctx.profile)
        if ctx.options:
            raise HarnessError(f"router 'task_best' takes no options (got {', '.join(ctx.options)})")
        self.means: dict[str, np.ndarray] = {}
        self.fallback: np.ndarray | None = None

    def fit(self, train: RoutingData, valid: RoutingData | None = None) -> None:
        if len(train) == 0 or train.scores is None:
            raise HarnessError("router 'task_best': no training items with scores")
        scores = np.asarray(train.scores, dtype=np.float64)
        labels = np.asarray(train.benchmarks)
        self.means = {b: scores[labels == b].mean(axis=0) for b in sorted(set(train.benchmarks))}
        self.fallback = per_item_normalized(scores).mean(axis=0)

    def predict(self, items: RoutingData) -> np.ndarray:
        if self.fallback is None:
            raise HarnessError("router 'task_best': predict() before fit()")
        return np.stack([self.means.get(b, self.fallback) for b in items.benchmarks]) if len(items) \
            else np.zeros((0, len(self.models)))

    def best(self) -> dict[str, str]:
        """The candidate chosen per benchmark (for reports and tests)."""
        return {b: self.models[int(np.argmax(m))] for b, m in self.means.items()}

    def config(self) -> dict[str, Any]:
        return {"statistic": "per-benchmark mean ground-truth score", "version": self.VERSION}

    def init_untrained(self) -> None:
        self.fallback = np.zeros(len(self.models))  # a table lookup: nothing to measure

    # parameter_count() and extra_flops_per_query() stay 0: one dictionary lookup per query
