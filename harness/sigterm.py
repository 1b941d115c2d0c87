"""SIGTERM for the CLI: raised as :class:`Terminated` where the command is, reported in one line,
exit code 143. A run's file and leaderboard rows are written as one unit
(:func:`harness.core.io.sigterm_deferred`), so the line can say whether they were. Top layer."""
from __future__ import annotations

import argparse
import signal
from contextlib import contextmanager
from typing import Iterator

EXIT_CODE = 128 + signal.SIGTERM  # 143, as if killed by it, for shells and schedulers


class Terminated(BaseException):
    """SIGTERM, raised where the command is: ``finally`` blocks run and atomic writes drop their
    temporary files, so a stopped command leaves no half-written file (and no traceback)."""


def _raise(signum, frame) -> None:
    raise Terminated


@contextmanager
def raised() -> Iterator[None]:
    """Within it, SIGTERM raises :class:`Terminated`; the previous handler is restored after."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread (main() called from one): leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def message(args: argparse.Namespace, exc: Terminated) -> str:
    """One line; a run's file and rows are written as one unit (``sigterm_deferred``): all or none."""
    if args.command != "eval":
        return f"interrupted by SIGTERM: {args.command} stopped; files are replaced whole, earlier results kept"
    if getattr(exc, "results_written", False):
        return f"interrupted by SIGTERM after {args.router}'s run file and rows were written"
    return f"interrupted by SIGTERM: nothing written for {args.router}; earlier rows kept"
