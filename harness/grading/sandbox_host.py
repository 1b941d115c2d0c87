"""The sandbox's host side helpers: which directories the sandboxed interpreter needs, the
environment and output files of its processes, waiting for them and killing what a uid left behind.
Used by :mod:`harness.grading.sandbox` only.

Imports: the standard library only.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Iterable


def others_can_traverse(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IXOTH)
    except OSError:
        return False


# shared libraries are mmapped executable: these stay exec-able beside the interpreter's dirs
LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")


def site_dirs() -> list[str]:
    """The host's package directories: the program gets them without running site (-S saves
    ~30 ms of .pth processing per program) so e.g. numpy still imports."""
    return [p for p in sys.path if p and os.path.isdir(p)
            and ("site-packages" in p or "dist-packages" in p)]


@lru_cache(maxsize=1)
def exec_paths() -> tuple[str, ...]:
    paths = {os.path.realpath(p) for p in (*interpreter_paths(), *LIBRARY_DIRS) if os.path.isdir(p)}
    return tuple(sorted(p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths)))


@lru_cache(maxsize=1)
def interpreter_paths() -> tuple[str, ...]:
    """Directories the program's interpreter reads: its prefixes and its import path."""
    paths = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, os.path.dirname(sys.executable))}
    paths |= {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    # keep only outermost paths: a bind mount of a parent brings its children along
    return tuple(sorted(p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths)))


def rebind_plan(paths: Iterable[str]) -> dict[str, list[str]]:
    """{hidden ancestor: [paths under it to bind back]} for paths the slot uid can't reach."""
    plan: dict[str, list[str]] = {}
    for path in paths:
        for ancestor in reversed(Path(path).parents):  # from / downwards
            if str(ancestor) != "/" and not others_can_traverse(ancestor):
                plan.setdefault(str(ancestor), []).append(path)
                break
    return plan


def accessible_without_root(paths: Iterable[str]) -> bool:
    return not rebind_plan(paths)


def clean_env(workdir: str) -> dict[str, str]:
    # built from nothing: no variable of the host's survives (API keys, tokens, proxies)
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
            "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1"}


def tail(path: Path, chars: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4 * chars))
            return fh.read().decode("utf-8", "replace")[-chars:]
    except OSError:
        return ""


def wait_any(procs: list[subprocess.Popen], timeout: float) -> None:
    """Return when one of ``procs`` exits or ``timeout`` passes. pidfds wake us at once
    (Popen.wait(timeout) polls with sleeps of up to 50 ms, most of a short program's cost)."""
    import select

    fds = []
    try:
        if hasattr(os, "pidfd_open"):
            for proc in procs:
                try:
                    fds.append(os.pidfd_open(proc.pid))
                except OSError:  # already reaped: it has exited
                    return
        if len(fds) != len(procs):
            try:
                procs[0].wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            return
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        poller.poll(max(0.0, timeout) * 1000)
    finally:
        for fd in fds:
            os.close(fd)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def sweep_uid(uid: int) -> None:
    """Kill every process of the slot's uid (one that left the process group included)."""
    pid = os.fork()
    if pid == 0:  # child: only async-signal-safe work between fork and _exit
        try:
            os.setuid(uid)
            for _ in range(100):
                os.kill(-1, signal.SIGKILL)  # as that uid: every process of it but this one
                time.sleep(0.01)
        except OSError:
            pass  # ESRCH: none left
        os._exit(0)
    os.waitpid(pid, 0)
