"""New candidates from the field's own output formats, and exporters for the round-trip test.

An importer reads one tool's native output for one model and writes it into the cache folder in
the format the benchmark adapters already read (so the model can be named in ``POOL=``):

| format       | reads                                                        | writes (test/...)            |
|--------------|--------------------------------------------------------------|------------------------------|
| alpaca_eval  | results/<m>/model_outputs.json + <annotator>/annotations.json | AlpacaEval/<M>/...           |
| arena_hard   | model_answer/<m>.jsonl + model_judgment/<judge>/<m>.jsonl     | ArenaHard/model_{answer,judgment}/<M> |
| mt_bench     | FastChat model_judgment/<judge>_single.jsonl                  | MT-Bench/judgments/...<M>... |
| opencompass  | predictions/<m>/<dataset>.json + results/<m>/<dataset>.json   | GSM8k, MATH, HumanEval, MBPP |
| evalplus     | samples.jsonl {task_id, solution|completion}, graded here     | HumanEval or MBPP            |
| bundle       | <model>.rh-import.tar.gz from ``export --format bundle``        | the same files, same bytes   |
| lm_eval      | samples_<task>_*.jsonl of gsm8k / *_math / humaneval / mbpp tasks, re-graded | GSM8k, MATH, HumanEval, MBPP |

Every file is staged, read back through the benchmark's own adapter against the item table, and
only then moved into the cache. An import is all or nothing: every benchmark it holds (OpenCompass,
lm-eval) is validated before any file moves, and a failure while moving puts back what was there.
The user's own files are checked with the adapters' field readers (:mod:`benchmarks._fields`), so a
malformed record is one line naming that file, the line or item, and the field. Imported files are
not in the data manifest, so they are used unverified (by design). Items are matched by the
benchmark's own ids (question_id, instruction, task_id; MBPP: ``Mbpp/<task id>`` through
:mod:`harness.grading.mbpp_ids`) or, for lm-eval, by the question text. alpaca_eval, evalplus and lm_eval
imports may leave up to ``allow_missing`` items out (placeholders marked ``omitted`` that the adapters
skip, so pools naming the model drop those items and count them). Every import is recorded in
``<cache>/imports/<model>.json`` (:mod:`harness.grading.import_record`).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from harness.core.errors import HarnessError
from harness.grading.import_chat import (export_alpaca_eval, export_arena_hard, export_mt_bench, import_alpaca_eval,
                                         import_arena_hard, import_mt_bench)
from harness.grading.import_graded import (export_evalplus, export_lm_eval, export_opencompass, import_evalplus,
                                           import_lm_eval, import_opencompass)
from harness.grading import import_record
from harness.grading.import_record import export_bundle, import_bundle
from harness.grading.staging import _OPEN, JUDGE_ALPACA

__all__ = ["IMPORTERS", "JUDGE_ALPACA", "export_alpaca_eval", "export_arena_hard", "export_bundle", "export_evalplus",
           "export_lm_eval", "export_mt_bench", "export_opencompass", "import_model"]


IMPORTERS: dict[str, Callable[..., list[Path]]] = {
    "alpaca_eval": import_alpaca_eval, "arena_hard": import_arena_hard, "mt_bench": import_mt_bench,
    "opencompass": import_opencompass, "evalplus": import_evalplus, "lm_eval": import_lm_eval,
    "bundle": import_bundle,
}
DROPPING = ("alpaca_eval", "evalplus", "lm_eval")  # formats that can leave items out (--allow-missing)


def import_model(fmt: str, path: str | os.PathLike, model: str, *, source: str | None = None,
                 force: bool = False, allow_missing: int = 0) -> list[Path]:
    """Import, then record the import (``<cache>/imports/<model>.json``: hashes, items, metric)."""
    key = fmt.replace("-", "_").lower()
    if key not in IMPORTERS:
        raise HarnessError(f"FORMAT={fmt}: expected one of {', '.join(IMPORTERS)}")
    if not path:
        raise HarnessError("FILE= (the tool's output file or folder) is required")
    if allow_missing < 0 or (allow_missing and key not in DROPPING):
        raise HarnessError(f"--allow-missing {allow_missing}: only {' and '.join(DROPPING)} imports can leave "
                           "items out (a count of 0 or more)")
    p = Path(path)
    if not p.exists():
        raise HarnessError(f"{p}: not found (FILE=)")
    options = {"source": source, "allow_missing": allow_missing} if key in DROPPING else {"source": source}
    try:
        written = IMPORTERS[key](p, model, source=source, force=force,
                                 **({"allow_missing": allow_missing} if key in DROPPING else {}))
    finally:
        while _OPEN:
            shutil.rmtree(_OPEN.pop(), ignore_errors=True)
    if key != "bundle":  # a bundle brings its own manifest
        summary = import_record.summarize(model, import_record.benchmarks_of(model, written))
        import_record.write_manifest(model, key, p.resolve(), written, options, summary)
    return written
