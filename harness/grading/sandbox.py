"""Running model-written programs, which are hostile input.

A graded program comes in two parts (:class:`harness.grading.programs.Program`): the model's code
(the *candidate part*) and the benchmark's tests (the *test part*). They run in two fresh processes,
started at once by ``harness/grading/_sandbox_boot.py``:

* the **candidate** process runs the model's code, then answers requests over a pipe;
* the **checker** process runs the test part; each name the test uses but does not define is a proxy
  that calls into the candidate (``harness/grading/_sandbox_wire.py``: pickled requests, replies in a
  small tagged format decoded safely and size-bounded; anything else fails the program).

**The verdict is the checker's exit status** (0 = every test statement ran). Nothing the model's
code can reach (its frames, memory, fds, ctypes, its exit status) decides it: a candidate that exits
early, hangs, crashes, sends garbage, forges replies or returns objects with a rigged ``__eq__`` just
fails. A program given as one text has no test part: it passes when its candidate process reports
that it reached its end, which such a program could forge; grading never runs one
(``regrade.run_programs``).

Both processes get, each on its own:

* a wall-clock timeout (the whole process group, and with it the pid namespace, is killed),
* rlimits: address space, CPU seconds, file size, open files, processes, no core files,
* a working directory of its own (``HOME`` and ``TMPDIR`` point there),
* a scrubbed environment: nothing of the host's is inherited (no keys, no tokens),
* when the host runs as root and the kernel allows it (checked once, :func:`isolation`):
  a dedicated uid per role and parallel slot (so RLIMIT_NPROC binds, the host's files and processes
  are out of reach, and the candidate cannot signal, ptrace or read the checker), fresh network /
  mount / pid / IPC / UTS namespaces (no network but a loopback that is down; every mount read-only,
  nosuid and noexec; the working directory a tmpfs capped at ``Limits.workdir_mb`` and
  ``Limits.workdir_files``; a private /proc; directories the uid could not traverse are hidden behind
  an empty tmpfs with only the interpreter bound back), and every process the role started dies
  with it. Without namespaces the working directory is an ordinary directory: only the file size
  (RLIMIT_FSIZE) and the wall clock bound what it writes. Without root both roles share the host's
  uid; the checker is then only non-dumpable (no ptrace or /proc/<pid>/mem of it).

What is not isolated is reported by :func:`isolation` and in results/regrade.md.
"""
from __future__ import annotations

import marshal
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from harness.core.errors import HarnessError
from harness.grading.programs import Program, test_names
from harness.grading.sandbox_host import (accessible_without_root, clean_env, default_workers, exec_paths,
                                          interpreter_paths, rebind_plan, site_dirs, sweep_uid, tail,
                                          wait_any)

BOOT_SOURCE = Path(__file__).with_name("_sandbox_boot.py")
WIRE_SOURCE = Path(__file__).with_name("_sandbox_wire.py")
ISOLATION_FAILED = 97
CHECKER_LOST = 4  # the checker's exit status when the candidate went away (_sandbox_wire)
UID_BASE = int(os.environ.get("HARNESS_SANDBOX_UID_BASE", "3200000"))  # far above real users
UID_BLOCK = 256   # uids per harness process: two per slot (candidate, checker)
MAX_WORKERS = UID_BLOCK // 2
# The -c program: it reads the first stage from stdin (17-byte header: kind + length), then the
# first stage reads the rest of stdin, the code to run. Bytecode compiled once by the host saves
# compiling ~600 lines twice per program (~25 ms of CPU).
STUB = ("import marshal, os\n"
        "def _read(n):\n    data = b''\n    while len(data) < n:\n        chunk = os.read(0, n - len(data))\n"
        "        if not chunk:\n            break\n        data += chunk\n    return data\n"
        "_head = _read(17)\n_stage = _read(int(_head[1:]))\n"
        "exec(marshal.loads(_stage) if _head[:1] == b'M' else compile(_stage, '<sandbox>', 'exec'))\n")


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0   # wall clock per program
    memory_mb: int = 2048     # RLIMIT_AS
    nproc: int = 32           # RLIMIT_NPROC of the slot's uid (a fork bomb stops here)
    fsize_mb: int = 64        # largest file it may write, its output included
    nofile: int = 256
    workdir_mb: int = 128     # total size of the working directory (tmpfs; namespaces only)
    workdir_files: int = 4096  # and how many files and directories it may hold
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
                f"working directory capped in total size and file count (tmpfs): {yes(self.namespaces)}",
                "test part in a separate checker process; verdict = its exit status: yes",
                f"checker out of the candidate's reach (own uid and pid namespace): "
                f"{yes(self.separate_uid and self.namespaces)}",
                f"separate uid per slot and role: {yes(self.separate_uid)}",
                f"no network (fresh network namespace): {yes(self.namespaces)}",
                f"read-only filesystem outside the working directory (mount namespace): {yes(self.namespaces)}",
                f"private pid namespace (all its processes die with it): {yes(self.namespaces)}",
                "seccomp syscall filter: NO (not used)"] + ([self.note] if self.note else [])


def _first_stage(python: str) -> bytes:
    """_sandbox_wire.py + _sandbox_boot.py, as bytecode when the sandbox runs this interpreter."""
    source = WIRE_SOURCE.read_text(encoding="utf-8") + "\n\n" + BOOT_SOURCE.read_text(encoding="utf-8")
    same = os.path.realpath(python) == os.path.realpath(sys.executable)
    payload = marshal.dumps(compile(source, "<sandbox>", "exec")) if same else source.encode()
    return (b"M" if same else b"S") + b"%016d" % len(payload) + payload


# ---------------------------------------------------------------------------------------------
# isolation probe

@lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Probe once what this host can do; never pretend to isolate what it cannot."""
    root = os.geteuid() == 0
    if not root:
        return Isolation(root=False, namespaces=False, separate_uid=False,
                         note="not root: no namespaces, programs run as the host's own uid")
    plan = rebind_plan(interpreter_paths())
    probe = Sandbox(Limits(timeout_s=20), workers=1, _isolation=Isolation(True, True, True, plan))
    out = probe.run("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
                    "except OSError:\n    pass\nprint('ok')\n")
    if out.passed:
        return Isolation(root=True, namespaces=True, separate_uid=True, rebind=plan)
    separate = accessible_without_root(interpreter_paths())
    return Isolation(root=True, namespaces=False, separate_uid=separate,
                     note=f"namespaces unavailable ({out.output.strip()[-200:]})"
                     + ("" if separate else "; the interpreter is unreadable to other uids, so "
                        "programs run as root (RLIMIT_NPROC not enforced)"))


# ---------------------------------------------------------------------------------------------
# running

class Sandbox:
    """Runs programs under :class:`Limits`; ``run_many`` runs ``workers`` programs at once."""

    def __init__(self, limits: Limits | None = None, workers: int | None = None,
                 python: str | None = None, *, _isolation: Isolation | None = None):
        self.limits = limits or Limits()
        self.workers = min(workers or default_workers(), MAX_WORKERS)
        self.python = python or sys.executable
        self.iso = _isolation or isolation()
        _refuse_unbounded(self.iso)
        self._slots: queue.Queue[int] = queue.Queue()
        base = UID_BASE + (os.getpid() % 50000) * UID_BLOCK  # two harness processes never share a uid
        for slot in range(self.workers):
            self._slots.put(base + 2 * slot)  # candidate uid; the checker's is the next one
        self._stage = _first_stage(self.python)

    # one program -------------------------------------------------------------------------------
    def run(self, program: str | Program) -> Outcome:
        """A text is a candidate part without tests (see the module's docstring)."""
        program = program if isinstance(program, Program) else Program(program)
        uid = self._slots.get()
        try:
            return self._run(program, uid)
        finally:
            self._slots.put(uid)

    def _run(self, program: Program, uid: int) -> Outcome:
        base = Path(tempfile.mkdtemp(prefix="rh-sandbox-"))
        try:
            os.chmod(base, 0o711)  # each uid may traverse to its own workdir, not list or read
            for role, role_uid in (("candidate", uid), ("checker", uid + 1)):
                (base / role).mkdir(mode=0o700)
                if self.iso.separate_uid:
                    os.chown(base / role, role_uid, role_uid)
            return self._spawn(program, base, uid)
        finally:
            shutil.rmtree(base, ignore_errors=True)  # does not follow the program's symlinks

    def _config(self, role: str, workdir: Path, uid: int, fds: tuple[int, int], names: list[str]) -> dict:
        lim = self.limits
        return {"role": role, "workdir": str(workdir), "namespaces": self.iso.namespaces,
                "filename": "program.py" if role == "candidate" else "test.py",
                "rebind": self.iso.rebind if self.iso.namespaces else {},
                "site_dirs": site_dirs(), "exec_paths": list(exec_paths()) if self.iso.namespaces else [],
                "uid": uid if self.iso.separate_uid else None, "memory_mb": lim.memory_mb,
                "cpu_s": lim.cpu_s, "fsize_mb": lim.fsize_mb, "nofile": lim.nofile, "nproc": lim.nproc,
                "workdir_mb": lim.workdir_mb, "workdir_files": lim.workdir_files,
                "req_fd": fds[0], "rep_fd": fds[1], "names": names}

    def _start(self, role: str, base: Path, uid: int, fds: tuple[int, int], names: list[str]) -> subprocess.Popen:
        config = marshal.dumps(self._config(role, base / role, uid, fds, names)).hex()
        with open(base / f"{role}.out", "wb") as out:
            return subprocess.Popen([self.python, "-S", "-s", "-B", "-c", STUB, config],
                                    stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=base / role, env=clean_env(str(base / role)),
                                    start_new_session=True, close_fds=True, pass_fds=fds)

    def _spawn(self, program: Program, base: Path, uid: int) -> Outcome:
        names = list(test_names(program.test)) if program.test else []
        req_r, req_w = os.pipe()  # checker -> candidate
        rep_r, rep_w = os.pipe()  # candidate -> checker
        start = time.perf_counter()
        procs: dict[str, subprocess.Popen] = {}
        try:  # both at once: the checker boots while the candidate runs the model's code
            procs["candidate"] = self._start("candidate", base, uid, (req_r, rep_w), names)
            procs["checker"] = self._start("checker", base, uid + 1, (req_w, rep_r), names)
        finally:
            for fd in (req_r, req_w, rep_r, rep_w):
                os.close(fd)  # only the two roles hold the pipe: a dead one means end-of-file
            for role, proc in procs.items():
                if len(procs) < 2:
                    self._stop(proc, uid if role == "candidate" else uid + 1)
        for role, text in (("candidate", program.candidate), ("checker", program.test)):
            try:
                procs[role].stdin.write(self._stage + text.encode("utf-8", "surrogatepass"))
                procs[role].stdin.close()
            except OSError:
                pass  # it died before reading: its exit status says why
        try:
            timed_out = not self._wait(procs, uid)
            if not timed_out and procs["candidate"].returncode is None:  # not reaped yet
                wait_any([procs["candidate"]], 1.0)  # it sees end-of-file and exits by itself
        finally:
            self._stop(procs["checker"], uid + 1)
            self._stop(procs["candidate"], uid)
        seconds = time.perf_counter() - start
        texts = {role: tail(base / f"{role}.out", self.limits.output_chars) for role in procs}
        return self._outcome(procs, timed_out, texts, seconds)

    def _wait(self, procs: dict[str, subprocess.Popen], uid: int) -> bool:
        """Wait for the checker; False on timeout. When the candidate ends first, what it left
        behind is killed at once: a child holding its end of the pipe would keep the checker
        waiting for an answer until the timeout."""
        deadline = time.monotonic() + self.limits.timeout_s
        candidate, checker = procs["candidate"], procs["checker"]
        released = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return checker.poll() is not None
            wait_any([checker] if released else [checker, candidate], left)
            if checker.poll() is not None:
                return True
            if not released and candidate.poll() is not None:
                released = True
                self._stop(candidate, uid)

    def _stop(self, proc: subprocess.Popen, uid: int) -> None:
        self._kill_group(proc)
        if self.iso.separate_uid and not self.iso.namespaces:
            sweep_uid(uid)

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

    def _outcome(self, procs: dict[str, subprocess.Popen], timed_out: bool, texts: dict[str, str],
                 seconds: float) -> Outcome:
        rc, cand_rc = procs["checker"].returncode, procs["candidate"].returncode
        # the candidate's own words last where it went away: they say why (its traceback)
        order = ("checker", "candidate") if rc == CHECKER_LOST else ("candidate", "checker")
        text = "\n".join(texts[r].rstrip() for r in order if texts[r].strip())[-self.limits.output_chars:]
        if timed_out:
            return Outcome("timeout", rc, seconds, text)
        if rc == ISOLATION_FAILED or (cand_rc == ISOLATION_FAILED
                                      and "sandbox isolation failed" in texts["candidate"]):
            return Outcome("isolation_failed", rc, seconds, text)
        return Outcome("passed" if rc == 0 else "failed", rc, seconds, text)

    # many programs -----------------------------------------------------------------------------
    def run_many(self, programs: Sequence[str | Program], progress: bool = False) -> list[Outcome]:
        """Outcomes in input order; ``workers`` programs run at a time."""
        if not programs:
            return []
        from harness.core.progress import bar

        with ThreadPoolExecutor(max_workers=self.workers) as pool, \
                bar(len(programs), "sandbox", unit="program", show=progress) as tick:
            futures = [pool.submit(self.run, code) for code in programs]
            results = []
            for fut in futures:
                results.append(fut.result())
                tick.update(1)
        return results


def _refuse_unbounded(iso: Isolation) -> None:
    """Root with neither namespaces nor a separate uid cannot bound a fork bomb: refuse."""
    if iso.root and not iso.namespaces and not iso.separate_uid \
            and os.environ.get("HARNESS_SANDBOX_UNSAFE") != "1":
        raise HarnessError("sandbox: this host can neither give programs their own uid nor "
                           "namespaces, so a fork bomb could not be bounded; run as a non-root "
                           "user or set HARNESS_SANDBOX_UNSAFE=1 to accept the risk")
