"""Reports built from the run files: the paired bootstrap (``bootstrap``), what a board row is
(``runs``), leaders and ties (``ranking``), each learned router against its protocol's single-model
reference (``skill``), ``results/leaderboard.md`` (``board``), the paper's analyses (``analysis``),
the static page (``site``, drawing with ``site_plots``, its sections in ``site_sections``, CSS
and JS in ``site_assets``) and ``routing-harness report``/``compare`` (``build``).

Imports: :mod:`harness.core` (and ``benchmarks``); never grading, cost or experiments. Reports read
what runs wrote; they never run a router.
"""
