"""Reference routers: random, oracle and a fixed single model. They learn nothing, and take no
``OPTIONS=``: an option given to them is an error, never silently ignored (speed-only settings such as
``num_threads``, which change no prediction, are accepted)."""
from __future__ import annotations

import numpy as np

from harness.core.errors import HarnessError
from routers import register_router
from routers.base import Router, RouterContext, RoutingData
from routers.profiles import SPEED_ONLY


class ReferenceRouter(Router):
    """Checks ``ctx.options`` against :attr:`OPTIONS` (none), as the learned routers do theirs."""

    NAME = ""  # as registered, for messages
    OPTIONS: tuple[str, ...] = ()

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        # speed-only settings (threads, device...) change no prediction: accepted, as lanes pass them to every run
        unknown = [key for key in ctx.options if key not in self.OPTIONS and key not in SPEED_ONLY]
        if unknown:
            accepted = ", ".join(self.OPTIONS) or "none"
            raise HarnessError(f"router '{self.label()}': unknown option '{unknown[0]}' "
                               f"(accepted options: {accepted})")

    def label(self) -> str:
        return self.NAME


@register_router("random")
class RandomRouter(ReferenceRouter):
    """Uniform random choice. Its headline score is the mean of the candidates' own metrics (the
    expected score of the linear metrics); ``predict`` gives one seeded draw, used for the
    optional Monte-Carlo estimate of its spread."""

    NAME = "random"
    expected_over_candidates = True

    def predict(self, items: RoutingData) -> np.ndarray:
        rng = np.random.default_rng(self.ctx.seed)
        return rng.random((len(items), len(self.models)))


@register_router("oracle")
class OracleRouter(ReferenceRouter):
    """Per item the candidate with the best ground-truth score; ties go to the first in pool order."""

    NAME = "oracle"
    uses_test_labels = True

    def predict(self, items: RoutingData) -> np.ndarray:
        if items.scores is None:
            raise HarnessError("oracle needs the test items' scores")
        return np.asarray(items.scores, dtype=np.float64)


@register_router("fixed", parametrised=True)
class FixedRouter(ReferenceRouter):
    """Always the same candidate: ``fixed:<model>``, the model must be in the pool."""

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        if ctx.argument not in self.models:
            raise HarnessError(f"router 'fixed:{ctx.argument}': model not in the pool "
                               f"({', '.join(self.models)})")
        self.index = self.models.index(ctx.argument)

    def label(self) -> str:
        return f"fixed:{self.ctx.argument}"

    def predict(self, items: RoutingData) -> np.ndarray:
        scores = np.zeros((len(items), len(self.models)))
        scores[:, self.index] = 1.0
        return scores

    def config(self) -> dict:
        return {"model": self.ctx.argument}
