"""Grading answers the cache did not grade: running programs in the sandbox (``sandbox``,
``sandbox_host``, and ``_sandbox_boot`` with ``_sandbox_wire`` inside it), split into the model's
code and the benchmark's tests (``programs``), re-grading math and code (``regrade``), importing new
candidates from the field's output formats (``importers`` and the per-family ``import_chat``,
``import_graded``, ``import_lmeval`` for lm-eval samples, with ``staging``; MBPP task ids in ``mbpp_ids``; each import's record and bundles in
``import_record``), and judging new chat answers through an OpenAI-compatible endpoint (``judge``;
its HTTP answers read by ``judge_http``; ``routing-harness judge`` in ``judge_run``).

Imports: :mod:`harness.core` (and ``benchmarks``); never cost, report or experiments.
"""
