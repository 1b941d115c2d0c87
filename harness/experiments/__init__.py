"""Experiments that train many runs and write a table of them: ``ablations`` (Lookahead's variants
against MLC over seeds), ``scalability`` (pools of 3, 5 and 8 candidates; its plan in
``scalability_plan``, its table in ``scalability_table``), ``protocols`` (cv, within and lobo per
router with the skill beyond the task: ``results/protocols.md``), ``lanes`` (runs trained side by
side in separate processes), ``known_answer`` and ``diagnostics`` (can every learned router learn:
``results/diagnostics.md``) and ``gpu_budget`` (``make gpu-budget``: one short GPU loan).

Imports: core, cost and report; only the CLI and the API import it.
"""
