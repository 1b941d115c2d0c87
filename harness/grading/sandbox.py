"""Running model-written programs, which are hostile input.

Each program runs in a fresh process (its own session and process group) started by
``harness/grading/_sandbox_boot.py`` with:

* a wall-clock timeout (the whole process group, and with it the pid namespace, is killed),
* rlimits: address space, CPU seconds, file size, open files, processes, no core files,
* a temporary working directory of its own (``HOME`` and ``TMPDIR`` point there),
* a scrubbed environment: nothing of the host's is inherited (no keys, no tokens),
* when the host runs as root and the kernel allows it (checked once, :func:`isolation`):
  a dedicated uid per parallel slot (so RLIMIT_NPROC binds and the host's files and processes
  are out of reach), fresh network / mount / pid / IPC / UTS namespaces (no network but a
  loopback that is down; every mount read-only, nosuid and noexec except the working directory;
  a private /proc; directories the uid could not traverse are hidden behind an empty tmpfs with
  only the interpreter bound back), and every process the program started dies with it.

A program passes when it runs to its end: exit status 0 *and* the completion token the first
stage prints after the program returns (so ``os._exit(0)`` half-way is not a pass). What is not
isolated is reported by :func:`isolation` and in results/regrade.md.
"""
from __future__ import annotations

import marshal
import os
import queue
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from harness.core.errors import HarnessError

BOOT_SOURCE = Path(__file__).with_name("_sandbox_boot.py")
ISOLATION_FAILED = 97
UID_BASE = int(os.environ.get("HARNESS_SANDBOX_UID_BASE", "3200000"))  # far above real users


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0   # wall clock per program
    memory_mb: int = 2048     # RLIMIT_AS
    nproc: int = 32           # RLIMIT_NPROC of the slot's uid (a fork bomb stops here)
    fsize_mb: int = 64        # largest file it may write, its output included
    nofile: int = 256
    output_chars: int = 4000  # tail of stdout+stderr kept in the outcome

    @property
    def cpu_s(self) -> int:
        return int(self.timeout_s) + 1


@dataclass
class Outcome:
    status: str  # passed | failed | timeout | isolation_failed
    returncode: int | None
    seconds: float
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class Isolation:
    """What this host can isolate (probed once per process)."""

    root: bool
    namespaces: bool       # network + mount + pid + ipc + uts
    separate_uid: bool     # program runs as a per-slot uid, not as the host's
    rebind: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""

    def lines(self) -> list[str]:
        yes = lambda b: "yes" if b else "NO"  # noqa: E731
        return ["own process group + wall-clock timeout: yes",
                "rlimits (memory, cpu, file size, files, processes): yes"
                + ("" if self.separate_uid or not self.root else " (RLIMIT_NPROC not enforced for root)"),
                "temporary working directory, scrubbed environment: yes",
                f"separate uid per slot: {yes(self.separate_uid)}",
                f"no network (fresh network namespace): {yes(self.namespaces)}",
                f"read-only filesystem outside the working directory (mount namespace): {yes(self.namespaces)}",
                f"private pid namespace (all its processes die with it): {yes(self.namespaces)}",
                "seccomp syscall filter: NO (not used)"] + ([self.note] if self.note else [])


# ---------------------------------------------------------------------------------------------
# isolation probe

def _others_can_traverse(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & stat.S_IXOTH)
    except OSError:
        return False


# shared libraries are mmapped executable: these stay exec-able beside the interpreter's dirs
LIBRARY_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")


def _site_dirs() -> list[str]:
    """The host's package directories: the program gets them without running site (-S saves
    ~30 ms of .pth processing per program) so e.g. numpy still imports."""
    return [p for p in sys.path if p and os.path.isdir(p)
            and ("site-packages" in p or "dist-packages" in p)]


@lru_cache(maxsize=1)
def _exec_paths() -> tuple[str, ...]:
    paths = {os.path.realpath(p) for p in (*_interpreter_paths(), *LIBRARY_DIRS) if os.path.isdir(p)}
    return tuple(sorted(p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths)))


@lru_cache(maxsize=1)
def _interpreter_paths() -> tuple[str, ...]:
    """Directories the program's interpreter reads: its prefixes and its import path."""
    paths = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, os.path.dirname(sys.executable))}
    paths |= {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    # keep only outermost paths: a bind mount of a parent brings its children along
    return tuple(sorted(p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths)))


def _rebind_plan(paths: Iterable[str]) -> dict[str, list[str]]:
    """{hidden ancestor: [paths under it to bind back]} for paths the slot uid can't reach."""
    plan: dict[str, list[str]] = {}
    for path in paths:
        for ancestor in reversed(Path(path).parents):  # from / downwards
            if str(ancestor) != "/" and not _others_can_traverse(ancestor):
                plan.setdefault(str(ancestor), []).append(path)
                break
    return plan


def _accessible_without_root(paths: Iterable[str]) -> bool:
    return not _rebind_plan(paths)


@lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Probe once what this host can do; never pretend to isolate what it cannot."""
    root = os.geteuid() == 0
    if not root:
        return Isolation(root=False, namespaces=False, separate_uid=False,
                         note="not root: no namespaces, programs run as the host's own uid")
    plan = _rebind_plan(_interpreter_paths())
    probe = Sandbox(Limits(timeout_s=20), workers=1, _isolation=Isolation(True, True, True, plan))
    out = probe.run("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
                    "except OSError:\n    pass\nprint('ok')\n")
    if out.passed:
        return Isolation(root=True, namespaces=True, separate_uid=True, rebind=plan)
    separate = _accessible_without_root(_interpreter_paths())
    return Isolation(root=True, namespaces=False, separate_uid=separate,
                     note=f"namespaces unavailable ({out.output.strip()[-200:]})"
                     + ("" if separate else "; the interpreter is unreadable to other uids, so "
                        "programs run as root (RLIMIT_NPROC not enforced)"))


# ---------------------------------------------------------------------------------------------
# running

def _clean_env(workdir: str) -> dict[str, str]:
    # built from nothing: no variable of the host's survives (API keys, tokens, proxies)
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
            "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1"}


def _tail(path: Path, chars: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4 * chars))
            return fh.read().decode("utf-8", "replace")[-chars:]
    except OSError:
        return ""


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait for exit; False on timeout. A pidfd wakes us at once (Popen.wait(timeout) polls with
    sleeps of up to 50 ms, which was most of a short program's cost)."""
    if hasattr(os, "pidfd_open"):
        import select

        try:
            fd = os.pidfd_open(proc.pid)
        except OSError:
            fd = None
        if fd is not None:
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                ready = poller.poll(timeout * 1000)
            finally:
                os.close(fd)
            if not ready:
                return False
            proc.wait()
            return True
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class Sandbox:
    """Runs Python programs under :class:`Limits`; ``run_many`` uses ``workers`` processes at once."""

    def __init__(self, limits: Limits | None = None, workers: int | None = None,
                 python: str | None = None, *, _isolation: Isolation | None = None):
        self.limits = limits or Limits()
        self.workers = workers or default_workers()
        self.python = python or sys.executable
        self.iso = _isolation or isolation()
        _refuse_unbounded(self.iso)
        self._slots: queue.Queue[int] = queue.Queue()
        base = UID_BASE + (os.getpid() % 50000) * 64  # two harness processes never share a uid
        for slot in range(self.workers):
            self._slots.put(base + slot)
        self._boot = BOOT_SOURCE.read_text(encoding="utf-8")

    # one program -------------------------------------------------------------------------------
    def run(self, code: str) -> Outcome:
        uid = self._slots.get()
        try:
            return self._run(code, uid)
        finally:
            self._slots.put(uid)

    def _run(self, code: str, uid: int) -> Outcome:
        base = Path(tempfile.mkdtemp(prefix="rh-sandbox-"))
        try:
            os.chmod(base, 0o711)  # the slot uid may traverse to its workdir, not list or read
            workdir = base / "work"
            workdir.mkdir(mode=0o700)
            program = workdir / "program.py"
            program.write_text(code, encoding="utf-8")
            if self.iso.separate_uid:
                for p in (workdir, program):
                    os.chown(p, uid, uid)
            out_path = base / "output"
            return self._spawn(workdir, program, out_path, uid)
        finally:
            shutil.rmtree(base, ignore_errors=True)  # does not follow the program's symlinks

    def _config(self, workdir: Path, program: Path, uid: int) -> dict:
        lim = self.limits
        return {"workdir": str(workdir), "program": str(program), "namespaces": self.iso.namespaces,
                "rebind": self.iso.rebind if self.iso.namespaces else {},
                "site_dirs": _site_dirs(), "exec_paths": list(_exec_paths()) if self.iso.namespaces else [],
                "uid": uid if self.iso.separate_uid else None, "memory_mb": lim.memory_mb,
                "cpu_s": lim.cpu_s, "fsize_mb": lim.fsize_mb, "nofile": lim.nofile, "nproc": lim.nproc}

    def _spawn(self, workdir: Path, program: Path, out_path: Path, uid: int) -> Outcome:
        token = secrets.token_hex(16)
        config = marshal.dumps(self._config(workdir, program, uid)).hex()
        argv = [self.python, "-S", "-s", "-B", "-c", self._boot, config]
        start = time.perf_counter()
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=workdir, env=_clean_env(str(workdir)), start_new_session=True,
                                    close_fds=True)
            timed_out = False
            try:
                proc.stdin.write((token + "\n").encode())
                proc.stdin.close()
            except OSError:
                pass  # it died before reading: its exit status says why
            try:
                timed_out = not _wait(proc, self.limits.timeout_s)
            finally:
                self._kill_group(proc)
                if self.iso.separate_uid and not self.iso.namespaces:
                    _sweep_uid(uid)
        seconds = time.perf_counter() - start
        text = _tail(out_path, self.limits.output_chars + 64)
        return self._outcome(proc.returncode, timed_out, text, token, seconds)

    def _kill_group(self, proc: subprocess.Popen) -> None:
        # With a pid namespace the first stage, on SIGTERM, kills the namespace's init and reaps
        # it, which empties the namespace; we wait for that, then SIGKILL the whole group anyway.
        if self.iso.namespaces and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    def _outcome(self, rc: int | None, timed_out: bool, text: str, token: str, seconds: float) -> Outcome:
        finished = text.rstrip().endswith(token)
        clean = text.replace(token, "").rstrip()[-self.limits.output_chars:]
        if timed_out:
            return Outcome("timeout", rc, seconds, clean)
        if rc == ISOLATION_FAILED and not finished:
            return Outcome("isolation_failed", rc, seconds, clean)
        return Outcome("passed" if rc == 0 and finished else "failed", rc, seconds, clean)

    # many programs -----------------------------------------------------------------------------
    def run_many(self, programs: Sequence[str], progress: bool = False) -> list[Outcome]:
        """Outcomes in input order; ``workers`` programs run at a time."""
        if not programs:
            return []
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(self.run, code) for code in programs]
            results = []
            for i, fut in enumerate(futures, start=1):
                results.append(fut.result())
                if progress and i % 100 == 0:
                    print(f"  sandbox: {i}/{len(programs)}", file=sys.stderr)
        return results


def _refuse_unbounded(iso: Isolation) -> None:
    """Root with neither namespaces nor a separate uid cannot bound a fork bomb: refuse."""
    if iso.root and not iso.namespaces and not iso.separate_uid \
            and os.environ.get("HARNESS_SANDBOX_UNSAFE") != "1":
        raise HarnessError("sandbox: this host can neither give programs their own uid nor "
                           "namespaces, so a fork bomb could not be bounded; run as a non-root "
                           "user or set HARNESS_SANDBOX_UNSAFE=1 to accept the risk")


def _sweep_uid(uid: int) -> None:
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
