"""Checks on what a run is handed by code and files it does not own: a router's ``predict`` (and a
plug-in's ``fit``), and candidate files that leave a benchmark with nothing to score. Each problem is
one :class:`HarnessError` line naming the router, benchmark or file and the first offending value,
never a traceback from deep inside numpy. Imports: core only."""
from __future__ import annotations

import inspect
import numbers
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks import get_benchmark
from benchmarks.base import BenchmarkData
from harness.core import config
from harness.core.errors import HarnessError
from routers.base import Router

# --------------------------------------------------------------------------------------------------
# Routers


def is_plug_in(router: Router) -> bool:
    """A router from a user's module or a package's entry point, not one of ``routers/``: what it
    raises is the user's problem (one line), while a built-in's exception is ours (a traceback)."""
    return type(router).__module__.split(".")[0] != "routers"


def guard(router: Router, name: str) -> Router:
    """``router`` with ``predict`` checked (every router) and, for a plug-in, ``predict`` and ``fit``
    exceptions turned into one line. Wraps the instance's methods; the class is untouched."""
    plug_in = is_plug_in(router)
    predict, fit = router.predict, router.fit

    def checked_predict(items):
        value = _call(router, name, "predict", predict, plug_in, items)
        return checked_scores(value, name, len(items), router.models)

    router.predict = checked_predict
    if plug_in:
        router.fit = lambda *args, **kwargs: _call(router, name, "fit", fit, plug_in, *args, **kwargs)
    return router


def _call(router: Router, name: str, method: str, fn: Callable, plug_in: bool, *args, **kwargs) -> Any:
    try:
        return fn(*args, **kwargs)
    except HarnessError:
        raise  # already one line, on purpose
    except Exception as exc:
        if not plug_in:
            raise
        # chained: a Python caller of the API still gets the router's traceback; the CLI prints one line
        raise HarnessError(f"router '{name}': {method}() raised {_describe(exc, router)}") from exc


def _describe(exc: BaseException, router: Router) -> str:
    """``Type: first line of the message (at file:line)``, the line in the router's own file when
    the exception passed through it, else the innermost frame."""
    message = (str(exc).strip().splitlines() or [""])[0][:200]
    frames = traceback.extract_tb(exc.__traceback__)
    try:
        own = inspect.getsourcefile(type(router))
    except TypeError:
        own = None
    mine = [f for f in frames if own and f.filename == own]
    where = (mine or frames)[-1] if frames else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}{': ' + message if message else ''}{at}"


def checked_scores(value: Any, name: str, n: int, models: list[str]) -> np.ndarray:
    """``value`` as an (n, T) float array, or one line saying what ``predict`` returned instead:
    model names, candidate indices (in range or not), a wrong shape, non-numbers, non-finite scores."""
    t = len(models)
    want = f"expected scores of shape ({n}, {t}): one per candidate per item, the argmax is routed to"
    head = f"router '{name}': predict() returned"
    if value is None:
        raise HarnessError(f"{head} None; {want}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged rows, a tensor on a GPU, ...
        what = (f"rows of different lengths ({_ragged(value, t)})" if isinstance(value, (list, tuple))
                else f"a {type(value).__name__} numpy cannot read ({str(exc).splitlines()[0][:120]})")
        raise HarnessError(f"{head} {what}; {want}") from None
    if arr.dtype.kind not in "biuf":
        _non_numeric(arr, head, want, models)
        arr = arr.astype(np.float64)
    if arr.ndim == 1 and len(arr) == n:
        raise HarnessError(f"{head} one value per item ({_indices(arr, t)}), not one score per candidate; {want}")
    if arr.shape != (n, t):
        raise HarnessError(f"{head} an array of shape {arr.shape}{_rows(arr, n)}; {want}")
    arr = arr.astype(np.float64)
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        i, j = bad[0]
        raise HarnessError(f"{head} a non-finite score ({arr[i, j]}) for item {i}, candidate {j} "
                           f"('{models[j]}'); scores must be finite")
    return arr


def _non_numeric(arr: np.ndarray, head: str, want: str, models: list[str]) -> None:
    """Raise on the first value that is not a real number (a model name, None, a string)."""
    for index, v in np.ndenumerate(arr):
        v = v.item() if isinstance(v, np.generic) else v  # np.str_('name') -> 'name'
        if isinstance(v, numbers.Real):
            continue
        where = f"item {index[0]}" + (f", candidate {index[1]}" if len(index) > 1 else "")
        hint = (" (a model name: give that model's column the highest score instead, "
                f"scores[i, {models.index(v)}] = 1)" if isinstance(v, str) and v in models else "")
        raise HarnessError(f"{head} {v!r} ({type(v).__name__}) for {where}{hint}; {want}")


def _indices(arr: np.ndarray, t: int) -> str:
    """What a 1-D answer looks like: the first value that is not a candidate index, else the first."""
    for i, v in enumerate(arr.tolist()):
        if not float(v).is_integer() or not 0 <= v < t:
            return f"item {i}: {v!r}, not a candidate index 0..{t - 1}"
    return f"candidate indices? first {arr.tolist()[0]!r}; use np.eye({t})[indices]"


def _rows(arr: np.ndarray, n: int) -> str:
    return f", {arr.shape[0]} rows for {n} items" if arr.ndim >= 1 and arr.shape[0] != n else ""


def _ragged(value: Any, t: int) -> str:
    for i, row in enumerate(value):
        if not hasattr(row, "__len__") or len(row) != t:
            size = len(row) if hasattr(row, "__len__") else "a scalar"
            return f"item {i}: {size} values for {t} candidates"
    return "uneven nesting"


# --------------------------------------------------------------------------------------------------
# Candidate files


def require_items(datas: dict[str, BenchmarkData], pool: str) -> None:
    """Every benchmark of a run scores at least one item. With none (an empty or foreign candidate
    file drops them all) the metric would be NaN and the row meaningless: name the benchmark, the
    pool and the candidate(s) whose file lacks the items."""
    for name, data in datas.items():
        if data.n_items >= 1:
            continue
        adapter, root = get_benchmark(name), config.cache_root()
        counts = Counter(why.removeprefix("no answer from ") for why in data.dropped.values())
        if not counts:
            files = ", ".join(str(p) for p in adapter.item_files(root))
            raise HarnessError(f"{name}: no item to score for pool {pool}: the item table ({files}) is empty")
        lacking = "; ".join(
            f"{count} without an answer from {model}"
            + (f" ({', '.join(str(p) for p in adapter.model_files(root, model))})" if model in data.models else "")
            for model, count in counts.most_common())
        raise HarnessError(f"{name}: no item left to score for pool {pool} (all {len(data.dropped)} dropped: "
                           f"{lacking})")
