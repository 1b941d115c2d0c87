"""What every importer shares: model-name checks, reading a tool's files, and :class:`Staging`, which
writes an import into a staging folder, reads it back through the benchmark's own adapter against
the item table, and only then moves it into the cache (:func:`commit_all`: every benchmark of an
import, or none). Imports: core, benchmarks."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_bytes, read_json, read_jsonl

JUDGE_ALPACA = "weighted_alpaca_eval_gpt4_turbo"
JUDGE_ARENA = "gpt-4-1106-preview"
JUDGE_MTBENCH = "gpt-4-0125-preview"
MATH_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}.\n"
OPENCOMPASS_DATASETS = {"gsm8k": "gsm8k", "math": "math", "openai_humaneval": "humaneval",
                        "humaneval": "humaneval", "sanitized_mbpp": "mbpp", "mbpp": "mbpp"}
EXPORT_DATASET = {"gsm8k": "gsm8k", "math": "math", "humaneval": "openai_humaneval", "mbpp": "sanitized_mbpp"}
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$")


# ---------------------------------------------------------------------------------------------
# small helpers

def _write_plain(path: Path, obj: Any, jsonl: bool = False) -> None:
    from harness.core.io import atomic_write_text

    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in obj) if jsonl \
        else json.dumps(obj, ensure_ascii=False, indent=1)
    atomic_write_text(path, text)


def _read_any(path: Path) -> Any:
    """JSON or JSONL (plain or .gz), by content."""
    name = path.name.removesuffix(".gz")
    return read_jsonl(path) if name.endswith(".jsonl") else read_json(path)


def check_model_name(model: str) -> str:
    if not model or not _MODEL_NAME.match(model):
        raise HarnessError(f"MODEL={model!r}: use letters, digits and . _ + - only (it becomes a file "
                           "name and a POOL entry)")
    return model


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise HarnessError(f"{path}: not found ({what})")
    return path


def _one(paths: list[Path], what: str, where: Path, prefer: str | None = None) -> Path:
    if prefer is not None:
        match = [p for p in paths if p.name.split(".")[0] == prefer or p.name == prefer]
        if match:
            return match[0]
    if len(paths) != 1:
        names = ", ".join(sorted(p.name for p in paths)) or "none"
        raise HarnessError(f"{where}: expected one {what}, found {names}; name it with SOURCE=")
    return paths[0]


def check_missing(path: Path, missing: list[str], total: int, allow_missing: int, what: str) -> None:
    """Refuse an import lacking more items than ``--allow-missing`` lets drop; say what the drop does."""
    if len(missing) > allow_missing:
        allowed = f" (--allow-missing {allow_missing})" if allow_missing else ""
        raise HarnessError(f"{path}: no {what} for {len(missing)} items (first: {missing[0]}) of the {total}{allowed}; "
                           f"pass --allow-missing {len(missing)} to import without them (pools naming this "
                           "model then drop them, counted in n_dropped)")
    if missing:
        print(f"import: {len(missing)} of {total} items have no {what} ({', '.join(missing[:5])}"
              f"{', ...' if len(missing) > 5 else ''}); left out: pools naming this model drop them (n_dropped)")


def _items(benchmark: str):
    from benchmarks import get_benchmark
    from harness.core import data, store

    data.ensure()
    adapter = get_benchmark(benchmark)
    return adapter, store.read_items(adapter)


def _reference_details(benchmark: str) -> tuple[dict, dict | None]:
    """The table model's OpenCompass files (results, predictions): prompts, references, gold."""
    adapter, _ = _items(benchmark)
    root = config.cache_root()
    files = adapter.model_files(root, adapter._table_model(root))
    results = read_json(files[-1])
    preds = read_json(files[0]) if len(files) == 2 else None
    return results, preds


# ---------------------------------------------------------------------------------------------
# staging: write, validate through the adapter, then move into the cache (all benchmarks or none)

_OPEN: list[Path] = []  # staging folders of the import in progress, removed whatever happens


class Staging:
    """One benchmark's files of an import, written under a temporary root that mirrors the cache."""

    def __init__(self, benchmark: str, model: str, force: bool):
        self.adapter, self.items = _items(benchmark)
        self.benchmark, self.model, self.force = benchmark, check_model_name(model), force
        self.root = Path(tempfile.mkdtemp(prefix="rh-import-"))
        _OPEN.append(self.root)
        self.extra: list[Path] = []  # staged files beyond the adapter's own (moved along with them)
        self.sources: dict[str, str] = {}  # staged file -> the user's file it is a copy of

    def path(self, index: int = -1) -> Path:
        return self.adapter.model_files(self.root, self.model)[index]

    def copied(self, staged: Path, source: Path) -> None:
        """``staged`` holds ``source``'s records unchanged: errors found in it name ``source``."""
        self.sources[str(staged)] = str(source)

    def validate(self) -> None:
        """Refuse an existing model (without force), then read the staged files back through the
        benchmark's own adapter against the item table."""
        real = config.cache_root()
        if self.model in self.adapter.models(real) and not self.force:
            raise HarnessError(f"model '{self.model}' already exists for {self.benchmark} in {real}; "
                               "choose another MODEL or pass --force")
        try:
            records = self.adapter.read_model(self.root, self.model, self.items)
        except HarnessError as exc:
            message = str(exc)
            for staged, source in self.sources.items():
                message = message.replace(staged, source)
            raise HarnessError(message) from None
        if not records.ids:
            raise HarnessError(f"{self.benchmark}: the import holds no item of the benchmark")

    def moves(self) -> list[tuple[Path, Path]]:
        """(staged file, its place in the cache) for every file of the benchmark."""
        real = config.cache_root()
        staged = [*self.adapter.model_files(self.root, self.model), *self.extra]
        return [(src, real / src.relative_to(self.root)) for src in staged]

    def commit(self) -> list[Path]:
        return commit_all([self])


def commit_all(stagings: list[Staging]) -> list[Path]:
    """An import is all or nothing: every staged benchmark is validated before any file moves, and
    a failure while moving puts back what the cache held, so a corrected re-import never meets
    half of an earlier one ("model already exists")."""
    from harness.core import store

    try:
        for st in stagings:
            st.validate()
        moves = [move for st in stagings for move in st.moves()]
        _move_all(moves)
        return [dst for _, dst in moves]
    finally:
        store.clear_memo()
        for st in stagings:
            shutil.rmtree(st.root, ignore_errors=True)


def _move_all(moves: list[tuple[Path, Path]]) -> None:
    undo: list[Callable[[], None]] = []
    try:
        for src, dst in moves:
            undo.append(_snapshot(dst))
            atomic_write_bytes(dst, src.read_bytes())
    except BaseException:
        for restore in reversed(undo):
            with contextlib.suppress(OSError):  # best effort: put back as much as can be
                restore()
        raise


def _snapshot(dst: Path) -> Callable[[], None]:
    """What puts ``dst`` back as it is now: its old bytes, or its old symlink (a cache copy made
    of links stays one), or no file; and removes the folders that writing it creates."""
    created = [folder for folder in dst.parents if not folder.exists()]  # deepest first
    if dst.is_symlink():
        target = os.readlink(dst)
        put_back = lambda: _relink(dst, target)  # noqa: E731
    elif dst.exists():
        old = dst.read_bytes()
        put_back = lambda: atomic_write_bytes(dst, old)  # noqa: E731
    else:
        put_back = lambda: dst.unlink(missing_ok=True)  # noqa: E731

    def undo() -> None:
        put_back()
        for folder in created:
            with contextlib.suppress(OSError):  # rmdir: only if nothing else was put there
                folder.rmdir()
    return undo


def _relink(path: Path, target: str) -> None:
    tmp = path.with_name(f".{path.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, path)
