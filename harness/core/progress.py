"""Progress bars with an ETA (tqdm) for long work: sandbox runs, math re-grading, the bootstrap,
judging. Shown on a terminal (stderr); silent when stderr is a pipe or a file (tests, CI logs), so
captured output stays clean. ``HARNESS_PROGRESS=1`` forces them on, ``0`` off.

Imports: nothing of the project (tqdm only).
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

T = TypeVar("T")


def _disabled(show: bool) -> bool | None:
    """tqdm's ``disable``: None lets tqdm decide (off when stderr is not a terminal)."""
    setting = os.environ.get("HARNESS_PROGRESS", "").strip()
    if not show or setting == "0":
        return True
    return False if setting == "1" else None


def bar(total: int | None, desc: str, unit: str = "it", show: bool = True):
    """A tqdm bar to ``update(n)`` by hand (a context manager); a no-op when not shown."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=_disabled(show), file=sys.stderr,
                dynamic_ncols=True, smoothing=0.1)


def progress(items: Iterable[T], desc: str, unit: str = "it", total: int | None = None,
             show: bool = True) -> Iterable[T]:
    """``items`` wrapped in a tqdm bar (ETA from the count, when it is known)."""
    from tqdm import tqdm

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    return tqdm(items, total=total, desc=desc, unit=unit, disable=_disabled(show), file=sys.stderr,
                dynamic_ncols=True, smoothing=0.1)
