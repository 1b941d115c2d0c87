"""Router cost: what a router spends per query, apart from its quality.

- :mod:`harness.cost.measure`: FLOPs per query (matrix products, attention counted apart), latency
  and throughput of any router on a sample of items.
- :mod:`harness.cost.runs`: ``routing-harness cost`` — measure every leaderboard run's router and
  fill the rows' cost columns and ``results/cost/<run>.json``.
- :mod:`harness.cost.paper_backbones`: the paper's backbones (random weights, no download) counted
  the same way, for ``results/cost.md``.

May import :mod:`harness.core`, ``routers`` and ``benchmarks``; never grading, report or experiments.
"""
