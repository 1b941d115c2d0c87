"""Apply each mutant of ``tests/mutation/mutants.py`` to a temporary copy of the checkout, run the
tests listed for it there, and report which mutants the suite kills.

    .venv/bin/python -m tests.mutation.run                 # every mutant (the NEW set and ISSUE18)
    .venv/bin/python -m tests.mutation.run --set new       # only the tool's 42 new mutants
    .venv/bin/python -m tests.mutation.run --only arena-strong-weight mtbench-drop-failures
    .venv/bin/python -m tests.mutation.run --list          # the mutants, and whether each still applies
    .venv/bin/python -m tests.mutation.run --report /tmp/mutation.md

The checkout itself is never edited: the copy lives under ``/tmp/mut-XXXX`` (``--keep`` leaves it),
imports resolve there through ``PYTHONPATH`` (the project's ``.venv`` is reused), the cache data is
read from the checkout's ``data/`` (``HARNESS_DATA_DIR``), and every mutant gets its own empty
results and parsed-cache folders, so no cached table, fold or bootstrap draw can hide a mutant.
Bytecode is not written (``PYTHONDONTWRITEBYTECODE``): a restored file never runs stale code.

A mutant is *killed* when its tests fail (exit 1), *survived* when they pass, *stale* when its
target text is no longer in the file exactly once (the code moved: re-target it), *invalid* when
the mutated file does not compile. Before the mutants, each distinct test selection runs once on the
unmutated copy (the baseline): a selection that fails there proves nothing, and its mutants are
reported as *baseline-failed*. Exit status: 0 when every mutant is killed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.mutation.mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[2]
# what a test run needs from the checkout (data/ is read in place through HARNESS_DATA_DIR)
SKIP = {".venv", "data", ".git", "scratch", "__pycache__", ".pytest_cache", ".cache", "build"}
PYTEST = ["-q", "-x", "-rf", "--no-header", "-p", "no:cacheprovider"]


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, survived, stale, invalid, timeout, baseline-failed
    seconds: float = 0.0
    detail: str = ""
    output: str = ""  # pytest's output (shown with --show)


def copy_checkout(dest: Path) -> Path:
    """A copy of the checkout's sources (tests included), without the venv, data and caches."""
    ignore = shutil.ignore_patterns(*SKIP, "*.egg-info", "*.pyc")
    dest.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name in SKIP or entry.name.endswith(".egg-info"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name, ignore=ignore, symlinks=True)
        else:
            shutil.copy2(entry, dest / entry.name)
    return dest


def apply(copy: Path, mutant: Mutant) -> str | None:
    """Mutate the copy's file in place; returns the original text, or None when the target is not
    found exactly once (a stale mutant)."""
    path = copy / mutant.path
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    if text.count(mutant.old) != 1:
        return None
    path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")
    return text


def environment(copy: Path, scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HARNESS_TEST_CACHE_DIR", None)  # a shared parsed cache could hide a parser mutant
    shared = ROOT.parent / "shared"
    env.setdefault("ROUTING_DATA", str(shared / "lookahead-data" / "compressed_data"))
    env.setdefault("ALPACA_EVAL_GAMED_OFFLINE", str(shared / "alpaca_eval" / "df_gamed_offline.csv.gz"))
    env.update(PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1", HF_HUB_DISABLE_TELEMETRY="1",
               HARNESS_DATA_DIR=env.get("HARNESS_DATA_DIR") or str(ROOT / "data"),
               HARNESS_RESULTS_DIR=str(scratch / "results"), HARNESS_CACHE_DIR=str(scratch / "cache"))
    return env


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[int | None, float, str]:
    """(pytest's exit status or None on timeout, seconds, its last lines)."""
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=copy.parent))
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", *PYTEST, *tests], cwd=copy, timeout=timeout,
                              env=environment(copy, scratch), capture_output=True, text=True)
        return proc.returncode, time.monotonic() - started, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - started, ""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def first_failure(output: str) -> str:
    found = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
    return found.group(1) if found else output.strip().splitlines()[-1] if output.strip() else ""


def mutate_and_test(copy: Path, mutant: Mutant, timeout: float) -> Outcome:
    original = apply(copy, mutant)
    if original is None:
        return Outcome(mutant, "stale", detail=f"target text not found exactly once in {mutant.path}")
    path = copy / mutant.path
    try:
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as exc:
            return Outcome(mutant, "invalid", detail=f"line {exc.lineno}: {exc.msg}")
        code, seconds, output = run_tests(copy, mutant.tests, timeout)
    finally:
        path.write_text(original, encoding="utf-8")
    if code is None:
        return Outcome(mutant, "timeout", seconds, f"tests still running after {timeout:.0f} s")
    if code == 0:
        return Outcome(mutant, "survived", seconds, output=output)
    if code == 1:
        return Outcome(mutant, "killed", seconds, first_failure(output), output)
    return Outcome(mutant, "killed", seconds, f"pytest exit {code}: {first_failure(output)}", output)


def baseline(copy: Path, mutants: list[Mutant], timeout: float, say) -> dict[tuple[str, ...], str]:
    """Each distinct test selection on the unmutated copy: '' when it passes, else why not."""
    failures: dict[tuple[str, ...], str] = {}
    for tests in dict.fromkeys(m.tests for m in mutants):
        code, seconds, output = run_tests(copy, tests, timeout)
        failures[tests] = "" if code == 0 else ("timeout" if code is None else first_failure(output))
        say(f"baseline {' '.join(tests)}: {'ok' if code == 0 else 'FAILS: ' + failures[tests]} ({seconds:.0f} s)")
    return failures


def report(outcomes: list[Outcome]) -> str:
    counted = [o for o in outcomes if o.status in ("killed", "survived", "timeout")]
    killed = sum(o.status in ("killed", "timeout") for o in counted)
    lines = ["| mutant | file | status | s | killed by / note |", "|---|---|---|---|---|"]
    lines += [f"| {o.mutant.id} | {o.mutant.path} | {o.status} | {o.seconds:.0f} | {o.detail} |" for o in outcomes]
    ratio = 100.0 * killed / len(counted) if counted else float("nan")
    others = {s: sum(o.status == s for o in outcomes) for s in ("stale", "invalid", "baseline-failed")}
    lines += ["", f"killed {killed} of {len(counted)} applicable mutants ({ratio:.1f}%)"
              + "".join(f"; {n} {s}" for s, n in others.items() if n)]
    return "\n".join(lines) + "\n"


def select(args: argparse.Namespace) -> list[Mutant]:
    chosen = [m for m in MUTANTS if args.set == "all" or m.set == args.set]
    if args.only:
        unknown = sorted(set(args.only) - {m.id for m in MUTANTS})
        if unknown:
            raise SystemExit(f"error: unknown mutant(s) {', '.join(unknown)} (see --list)")
        chosen = [m for m in MUTANTS if m.id in args.only]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=("all", "new", "issue18"), default="all")
    parser.add_argument("--only", nargs="+", metavar="ID", help="these mutants only")
    parser.add_argument("--list", action="store_true", help="list the mutants and whether each still applies")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per test run (default 900)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated runs")
    parser.add_argument("--keep", action="store_true", help="keep the /tmp/mut-XXXX copy")
    parser.add_argument("--report", type=Path, help="also write the Markdown table here")
    parser.add_argument("--show", action="store_true", help="print each run's pytest output (the failed assert)")
    args = parser.parse_args(argv)
    mutants = select(args)
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    if args.list:
        for m in mutants:
            text = (ROOT / m.path).read_text(encoding="utf-8") if (ROOT / m.path).exists() else ""
            state = "applies" if text.count(m.old) == 1 else "STALE"
            print(f"{m.id:32} {m.set:8} {state:8} {m.path}: {m.what}  [{' '.join(m.tests)}]")
        return 0
    work = Path(tempfile.mkdtemp(prefix="mut-"))
    try:
        copy = copy_checkout(work / "checkout")
        say(f"mutation: {len(mutants)} mutant(s); copy of the checkout in {copy}")
        broken = {} if args.no_baseline else baseline(copy, mutants, args.timeout, say)
        outcomes = []
        for n, mutant in enumerate(mutants, start=1):
            if broken.get(mutant.tests):
                outcome = Outcome(mutant, "baseline-failed", detail=broken[mutant.tests])
            else:
                outcome = mutate_and_test(copy, mutant, args.timeout)
            outcomes.append(outcome)
            say(f"[{n}/{len(mutants)}] {mutant.id}: {outcome.status} ({outcome.seconds:.0f} s) {outcome.detail}")
            if args.show and outcome.output:
                say("\n".join(outcome.output.rstrip().splitlines()[-40:]))
        text = report(outcomes)
        print(text)
        if args.report:
            args.report.write_text(text, encoding="utf-8")
        return 0 if all(o.status in ("killed", "timeout") for o in outcomes) else 1
    finally:
        if args.keep:
            say(f"mutation: copy kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
