"""The router protocol.

A router is built for a pool of candidates, may be fitted on training items, and returns one
score per candidate per item; the harness routes each item to the argmax (ties to the first
candidate in pool order). At test time it sees prompts only: :meth:`RoutingData.queries` strips the
labels and answers, replaces the item ids with opaque ones and hides the benchmark names before
:meth:`Router.predict` is called (a reference router that is entitled to the benchmark name, such
as ``task_best``, declares ``uses_benchmark_label = True``).

    from routers import register_router
    from routers.base import Router

    @register_router("longest_prompt_first")
    class MyRouter(Router):
        def predict(self, items):
            ...  # -> np.ndarray of shape (len(items), len(self.models))
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import numpy as np

from harness.core.errors import HarnessError


class HiddenLabels(Sequence):
    """Benchmark names withheld from ``predict``: its length is known, reading it is an error."""

    def __init__(self, n: int):
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):  # type: ignore[override]
        raise HarnessError("predict() sees prompts only: the benchmark names are hidden (a router entitled "
                           "to them, like task_best, sets uses_benchmark_label = True)")

    def __iter__(self) -> Iterator[str]:
        return self.__getitem__(0)

    def __repr__(self) -> str:
        return f"HiddenLabels({self._n})"


@dataclass
class RoutingData:
    """Items pooled across benchmarks, as a router sees them.

    ``uids`` are ``"<benchmark>/<item id>"``. ``responses[i][t]`` is candidate t's answer to item i
    and ``scores[i, t]`` its ground-truth score; both are ``None`` for the items a router predicts.
    """

    uids: list[str]
    benchmarks: list[str]
    prompts: list[str]
    models: list[str]
    responses: list[list[str]] | None = None
    scores: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.uids)

    def subset(self, index: Sequence[int] | np.ndarray) -> "RoutingData":
        index = np.asarray(index, dtype=np.int64)
        return RoutingData(
            uids=[self.uids[i] for i in index],
            benchmarks=HiddenLabels(len(index)) if isinstance(self.benchmarks, HiddenLabels)
            else [self.benchmarks[i] for i in index],
            prompts=[self.prompts[i] for i in index],
            models=list(self.models),
            responses=None if self.responses is None else [self.responses[i] for i in index],
            scores=None if self.scores is None else self.scores[index],
        )

    def queries(self, *, benchmark_label: bool = False) -> "RoutingData":
        """What a router may see at test time: the prompts, with opaque ids, and neither labels,
        answers nor (unless ``benchmark_label``) the benchmark names."""
        return replace(self, responses=None, scores=None, uids=[f"q{i}" for i in range(len(self))],
                       benchmarks=list(self.benchmarks) if benchmark_label else HiddenLabels(len(self)))


@dataclass
class RouterContext:
    """What the harness tells a router when it builds one."""

    models: list[str]
    seed: int = 0
    profile: str = "cpu"
    options: dict[str, Any] = field(default_factory=dict)
    argument: str | None = None  # the part after "name:" for parametrised routers


class Router:
    """Base class. Override :meth:`predict`, and :meth:`fit` if the router learns."""

    #: trained on labelled items (fold-wise under `cv`); False for reference routers
    learns: bool = False
    #: the oracle only: predict() receives the test items *with* their scores
    uses_test_labels: bool = False
    #: the random reference: scored as the mean of the candidates' own metrics
    expected_over_candidates: bool = False
    #: references that route by task (task_best): predict() is told each item's benchmark name
    uses_benchmark_label: bool = False

    def __init__(self, ctx: RouterContext):
        self.ctx = ctx
        self.models = list(ctx.models)

    def fit(self, train: RoutingData, valid: RoutingData | None = None) -> None:
        """Learn from labelled items (``scores`` set; ``responses`` set where the data has them)."""

    def predict(self, items: RoutingData) -> np.ndarray:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """Settings recorded in the run file (hyperparameters, backbone, ...)."""
        return {}

    # --- cost hooks (harness.cost.runs measures predict() itself; these cover what it cannot see) ---

    def parameter_count(self) -> int:
        """Parameters the router uses at inference (0 for reference routers)."""
        return 0

    def extra_flops_per_query(self) -> float:
        """FLOPs per query spent outside torch (e.g. a numpy neighbour search), counted analytically."""
        return 0.0

    def init_untrained(self) -> None:
        """Make ``predict`` runnable without ``fit`` (random head), so cost can be measured from a
        configuration alone. Learned routers with torch models implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot be measured untrained")
