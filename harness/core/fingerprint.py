"""Fingerprints of the code that produced a cached value.

A cache is keyed by everything that produced it, the code included: a fold's fitted router by the
router's module and the harness modules it imports, a parsed table by its adapter's module, the
bootstrap's draws by the scorers. :func:`code_fingerprint` hashes the source of the named modules
(or of the module defining a class, a plug-in's file included) and of every project module they
import, directly or not, at the top or inside functions (read from the source, without importing).
Editing any of those files changes the key, so a stale entry is never served.

Classes without a source file (defined in a notebook cell) are fingerprinted from their methods'
bytecode and constants.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
import time
import types
from pathlib import Path
from typing import Iterable

PROJECT_PACKAGES = ("harness", "routers", "benchmarks")


_FILES: dict[str, Path | None] = {}
_IMPORTS: dict[tuple[Path, int, int], set[str]] = {}


def _module_file(name: str) -> Path | None:
    """The source file of a project module, without importing it."""
    if name not in _FILES:
        _FILES[name] = _find_module_file(name)
    return _FILES[name]


def _find_module_file(name: str) -> Path | None:
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None) if module else None
    if file is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        file = spec.origin if spec else None
    return Path(file) if file and file.endswith(".py") else None


def _imported_modules(path: Path) -> set[str]:
    """Project modules a file imports (``from a.b import c`` counts ``a.b.c`` when that is a module);
    remembered per file version (path, mtime, size)."""
    try:
        st = path.stat()
    except OSError:
        return set()
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _IMPORTS:
        _IMPORTS[key] = _parse_imports(path)
    return _IMPORTS[key]


_FROM = re.compile(r"^[ \t]*from[ \t]+([A-Za-z_][\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]*)", re.M)


def _parse_imports(path: Path) -> set[str]:
    """Import statements read with regular expressions, not ``ast``: ~20x faster, and a name in a
    string or comment that looks like an import can only widen the key, never narrow it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    found: set[str] = set()
    for module, names in _FROM.findall(text):
        found.add(module)
        for name in names.strip("()").replace("\n", " ").split(","):
            name = name.split(" as ")[0].strip()
            if name.isidentifier():
                found.add(f"{module}.{name}")
    for names in _IMPORT.findall(text):
        found |= {n.split(" as ")[0].strip() for n in names.split(",") if n.strip()}
    return {name for name in found if name.split(".")[0] in PROJECT_PACKAGES}


def _closure(files: Iterable[Path]) -> list[Path]:
    """The files and every project module they reach through imports (packages' __init__ included)."""
    todo, seen = list(files), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_modules(path):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
                file = _module_file(".".join(parts[:depth]))
                if file is not None and file not in seen:
                    todo.append(file)
    return sorted(seen)


_SEEN: dict[tuple[Path, ...], tuple[tuple, str]] = {}  # roots -> (stat of every file reached, digest)


def _stats(paths: Iterable[Path]) -> tuple:
    out = []
    for p in paths:
        st = p.stat()
        out.append((p, st.st_mtime_ns, st.st_size))
    return tuple(out)


def _files_digest(files: tuple[Path, ...]) -> str:
    """Hash of the files' closure. Re-used within a process while no file of it changed on disk
    (a notebook that edits a router module gets a new key without restarting)."""
    known = _SEEN.get(files)
    if known is not None:
        try:
            if _stats(p for p, _, _ in known[0]) == known[0]:
                return known[1]
        except OSError:
            pass
    closure = _closure(files)
    digest = hashlib.sha256()
    for path in closure:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    _SEEN[files] = (_stats(closure), digest.hexdigest()[:16])
    return _SEEN[files][1]


def _code_digest(obj: type | types.FunctionType) -> str:
    """Bytecode and constants of a class's (or function's) code, for objects with no source file."""
    digest = hashlib.sha256()
    codes = [obj.__code__] if isinstance(obj, types.FunctionType) else [
        f.__code__ for f in vars(obj).values() if isinstance(f, types.FunctionType)]
    for code in codes:
        digest.update(code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode())
    return digest.hexdigest()[:16]


def _source_file(obj: object) -> Path | None:
    if isinstance(obj, str):
        return _module_file(obj)
    if isinstance(obj, Path):
        return obj
    module = obj if isinstance(obj, types.ModuleType) else sys.modules.get(getattr(obj, "__module__", ""), None)
    file = getattr(module, "__file__", None)
    if file is None:
        try:
            file = inspect.getsourcefile(obj)  # type: ignore[arg-type]
        except TypeError:
            return None
    return Path(file) if file and Path(file).exists() else None


_RECENT: dict[tuple, tuple[float, str, tuple]] = {}  # objects -> (when checked, digest, stats of their files)
RECHECK_SECONDS = 2.0  # a tight loop (the bootstrap keys thousands of draws) re-stats the files at most this often


def code_fingerprint(*objects: object) -> str:
    """A short hash of the code behind ``objects``: module names (``"harness.report.bootstrap"``),
    modules, classes or functions (their module's file), or file paths; each with every project
    module it imports."""
    try:
        recent = _RECENT.get(objects)
    except TypeError:  # unhashable: no fast path
        recent = None
    roots = _root_stats(objects)
    if recent is not None and time.monotonic() - recent[0] < RECHECK_SECONDS and recent[2] == roots:
        return recent[1]  # the files named directly are unchanged: only their imports go unchecked this briefly
    digest = _fingerprint(objects)
    try:
        _RECENT[objects] = (time.monotonic(), digest, roots)
    except TypeError:
        pass
    return digest


def _root_stats(objects: tuple) -> tuple:
    out = []
    for obj in objects:
        file = _source_file(obj)
        try:
            st = file.stat() if file is not None else None
        except OSError:
            st = None
        out.append(None if st is None else (st.st_mtime_ns, st.st_size))
    return tuple(out)


def _fingerprint(objects: tuple) -> str:
    files, extra = [], []
    for obj in objects:
        file = _source_file(obj)
        if file is not None:
            files.append(file.resolve())
        elif isinstance(obj, (type, types.FunctionType)):
            extra.append(_code_digest(obj))
        else:
            raise ValueError(f"no source for {obj!r}")
    digest = _files_digest(tuple(sorted(set(files))))
    return digest if not extra else hashlib.sha256((digest + "".join(extra)).encode()).hexdigest()[:16]
