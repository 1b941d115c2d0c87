"""Reading the cache's gzipped JSON / JSONL / CSV files, atomic writes, and locks beside the files they guard.

Every failure becomes a one-line :class:`HarnessError` that names the file (and line or item).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from harness.core.errors import HarnessError


def read_text(path: Path) -> str:
    """Read a file, transparently gunzipping ``.gz``; corrupt or truncated archives are named."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"{path}: file not found (run 'make data')")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return fh.read()
        return path.read_text(encoding="utf-8")
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
        raise HarnessError(f"{path}: corrupted or truncated gzip ({exc})") from None
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{path}: not UTF-8 text ({exc})") from None


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}: invalid JSON on line {lineno} ({exc.msg})") from None
    return rows


def field(record: dict, name: str, path: Path, item: object) -> Any:
    """``record[name]``, or a one-line error naming the file, the item and the field."""
    try:
        return record[name]
    except (KeyError, TypeError):
        raise HarnessError(f"{path}: item {item}: missing field '{name}'") from None


def lock_path(path: Path) -> Path:
    """The lock file of ``path``: hidden, beside it (``results/.leaderboard.csv.lock``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for ``path`` (a read-modify-write that parallel runs share).

    The lock file lives beside ``path``, not in ``$TMPDIR``: every process that writes ``path`` then
    meets the same lock, whatever its TMPDIR, user or working directory. It is never deleted (a
    process could otherwise lock the old inode while another creates a new one)."""
    lock = lock_path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fh = open(lock, "a")
    except OSError as exc:
        raise HarnessError(f"{lock}: cannot create the lock file ({exc.strerror})") from None
    with fh:
        try:
            import fcntl
        except ImportError:  # not POSIX: no parallel lanes there either
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def sigterm_deferred() -> Iterator[None]:
    """Hold SIGTERM off while one unit of results is written (a run file and its leaderboard rows);
    also a decorator. A SIGTERM that arrives meanwhile is handed to the previous handler as the unit
    ends, so a stopped run leaves all of it or none. What that handler raises then has
    ``results_written``: True when the unit completed, False when it failed on its own.

    The Python handler is swapped, not the signal mask: a process-directed signal is delivered to any
    thread that does not block it (BLAS, tokenizer threads), and Python runs handlers in the main thread."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be changed (and only run) in the main thread
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: pending.append(signum))
    completed = False
    try:
        yield
        completed = True
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)  # None: set outside Python
        if pending:
            _redeliver_sigterm(previous, completed)


def _redeliver_sigterm(previous: Any, completed: bool) -> None:
    import signal

    if callable(previous):
        try:
            previous(signal.SIGTERM, None)
        except BaseException as exc:
            exc.results_written = completed
            raise
    elif previous != signal.SIG_IGN:  # the default action: terminate, now that the unit is whole
        os.kill(os.getpid(), signal.SIGTERM)


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path`` and rename it over: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; a written file is as readable as any other
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def atomic_write_json(path: Path, obj: Any, *, compact: bool = False) -> None:
    """``compact`` for large per-item files (run files): one line, no indentation."""
    text = json.dumps(obj, indent=None if compact else 1, ensure_ascii=False, default=_json_default,
                      separators=(",", ":") if compact else None)
    atomic_write_text(path, text + "\n")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def csv_text(rows: Iterable[dict], columns: list[str]) -> str:
    import csv

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
    return buf.getvalue()


def write_json_gz(path: Path, obj: Any) -> None:
    text = json.dumps(obj, ensure_ascii=False)
    atomic_write_bytes(path, gzip.compress(text.encode("utf-8"), mtime=0))


def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    atomic_write_bytes(path, gzip.compress(text.encode("utf-8"), mtime=0))


def sha256_file(path: Path | str) -> str:
    """The file's sha256, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
