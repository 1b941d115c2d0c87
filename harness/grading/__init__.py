"""Grading answers the cache did not grade: running programs in the sandbox (``sandbox``,
``_sandbox_boot``), re-grading math and code (``regrade``), importing new candidates from the field's
output formats (``importers`` and the per-family ``import_chat``, ``import_graded``, with ``staging``),
and judging new chat answers through an OpenAI-compatible endpoint (``judge``; its HTTP answers read
by ``judge_http``).

Imports: :mod:`harness.core` (and ``benchmarks``); never cost, report or experiments.
"""
