"""routing-harness: evaluate LLM routers on cached candidate answers and judgments.

The public API is small; everything else is internal:

- :func:`harness.core.runner.evaluate` with :class:`harness.core.runner.EvalConfig` — run one router.
- :func:`harness.core.store.load` — one benchmark's items, answers, verdicts and ground truth for a pool.
- :func:`routers.register_router` / :class:`routers.base.Router` — add a router.
- :func:`benchmarks.register_benchmark` / :class:`benchmarks.base.Benchmark` — add a benchmark.
"""
__version__ = "0.1.0"
