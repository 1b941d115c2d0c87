"""Reference routers: random, oracle and a fixed single model. They learn nothing."""
from __future__ import annotations

import numpy as np

from harness.core.errors import HarnessError
from routers import register_router
from routers.base import Router, RouterContext, RoutingData


@register_router("random")
class RandomRouter(Router):
    """Uniform random choice. Its headline score is the mean of the candidates' own metrics (the
    expected score of the linear metrics); ``predict`` gives one seeded draw, used for the
    optional Monte-Carlo estimate of its spread."""

    expected_over_candidates = True

    def predict(self, items: RoutingData) -> np.ndarray:
        rng = np.random.default_rng(self.ctx.seed)
        return rng.random((len(items), len(self.models)))


@register_router("oracle")
class OracleRouter(Router):
    """Per item the candidate with the best ground-truth score; ties go to the first in pool order."""

    uses_test_labels = True

    def predict(self, items: RoutingData) -> np.ndarray:
        if items.scores is None:
            raise HarnessError("oracle needs the test items' scores")
        return np.asarray(items.scores, dtype=np.float64)


@register_router("fixed", parametrised=True)
class FixedRouter(Router):
    """Always the same candidate: ``fixed:<model>``, the model must be in the pool."""

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        if ctx.argument not in self.models:
            raise HarnessError(f"router 'fixed:{ctx.argument}': model not in the pool "
                               f"({', '.join(self.models)})")
        self.index = self.models.index(ctx.argument)

    def predict(self, items: RoutingData) -> np.ndarray:
        scores = np.zeros((len(items), len(self.models)))
        scores[:, self.index] = 1.0
        return scores

    def config(self) -> dict:
        return {"model": self.ctx.argument}
