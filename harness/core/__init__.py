"""The evaluation core: from the released cache to a scored, normalized run.

Owns the data (``data``: fetch, copy and verify the cache; ``store``: one benchmark's items, answers
and verdicts for a pool), the locations and settings (``config``, ``pools``, ``errors``, ``io``; progress bars: ``progress``),
routing a router through a protocol (``registry``, ``protocols``, ``training_sets``, ``distributed``;
what a router returns is checked by ``run_checks``), scoring and normalizing (``normalize``,
``runner``), and writing what a run produced (the run file, merged with the benchmarks it keeps by
``run_merge``, ``provenance``, the leaderboard CSV ``leaderboard``, its cost columns ``run_costs``).

Imports: nothing above it in ``harness`` (only ``routers``, ``benchmarks`` and libraries). Everything
else in ``harness`` builds on it.
"""
