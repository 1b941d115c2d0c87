"""The mutants: realistic one-line faults, each with the tests that must catch it.

A mutant replaces ``old`` (exact text, found exactly once in ``path``) with ``new``. Targets are
matched by text, not line number, so a mutant survives edits around it; when its line itself changes,
``run.py --list`` says STALE and the mutant needs re-targeting. ``tests`` are pytest arguments (files
or node ids), kept to what kills the mutant quickly.

Sets: ``issue18`` re-creates the six survivors of issue 18's first mutation pass (the tests written
for them must now kill them); ``new`` are the 25+ further faults of this tool.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    id: str
    set: str  # "issue18" or "new"
    path: str  # relative to the checkout
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


def _m(set_: str, id_: str, path: str, old: str, new: str, tests: str | tuple[str, ...], what: str) -> Mutant:
    return Mutant(id_, set_, path, old, new, (tests,) if isinstance(tests, str) else tuple(tests), what)


PINNED = "tests/test_pinned_scores.py"

ISSUE18 = [
    _m("issue18", "arena-strong-weight", "benchmarks/arenahard.py",
       'VERDICT_VALUE = {"A>>B": 3.0, "A>B": 1.0, "A=B": 0.0, "B>A": -1.0, "B>>A": -3.0}',
       'VERDICT_VALUE = {"A>>B": 4.0, "A>B": 1.0, "A=B": 0.0, "B>A": -1.0, "B>>A": -4.0}',
       f"{PINNED}::test_arena_hard_battles_and_yi_win_rate", "a strong verdict counts 4 battles, not 3"),
    _m("issue18", "arena-judged-unanswered-kept", "benchmarks/arenahard.py",
       "        ids = [q for q in judged if q in answers]\n",
       "        ids = list(judged)\n        answers = {q: answers.get(q, '') for q in ids}\n",
       "tests/test_dropped_items.py", "an item judged but not answered stays in the pool, with an empty answer"),
    _m("issue18", "runner-n-dropped-zero", "harness/core/runner.py",
       "n_dropped=len(data.dropped),", "n_dropped=0,",
       (f"{PINNED}::test_eval_rows_carry_the_pinned_figures", "tests/test_dropped_items.py"),
       "n_dropped reported as 0"),
    _m("issue18", "bootstrap-unpaired", "harness/report/bootstrap.py",
       "draws = scorer(np.asarray(choice, dtype=np.int64), self.counts(benchmark, data.n_items))",
       "draws = scorer(np.asarray(choice, dtype=np.int64), resample_counts(benchmark, data.n_items, "
       "self.settings.resamples, int(digest[:8], 16)))",
       "tests/test_paired_bootstrap.py", "each choice vector gets resamples of its own (unpaired)"),
    _m("issue18", "mlm-loss-one-off", "routers/lookahead.py",
       "model.token_head(hidden[where])", "model.token_head(hidden[:, 1:][where[:, :-1]])",
       "tests/test_lookahead_loss.py", "the masked-token loss reads the state one position to the right"),
    _m("issue18", "leaderboard-in-place", "harness/core/leaderboard.py",
       "    rows = sorted(kept + merged, key=_sort_key)\n    atomic_write_text(csv_path(), csv_text(rows, COLUMNS))",
       "    rows = sorted(kept + merged, key=_sort_key)\n    csv_path().write_text(csv_text(rows, COLUMNS))",
       "tests/test_atomic_leaderboard.py", "the leaderboard is rewritten in place, not atomically"),
    _m("issue18", "mtbench-drop-failures", "benchmarks/mtbench.py",
       '"score": float(np.mean(np.concatenate([turn1, turn2]))),',
       '"score": float(np.mean((lambda v: v[v >= 0])(np.concatenate([turn1, turn2])))),',
       f"{PINNED}::test_mtbench_judge_failures_stay_minus_one", "judge failures (-1) left out of the MT-Bench mean"),
]

NEW: list[Mutant] = []

MUTANTS = ISSUE18 + NEW
