"""The sandbox's first stage, run as ``python -S -s -B -c <_sandbox_wire.py + this source> <hex of
marshalled config>`` by harness.grading.sandbox, once for the candidate and once for the checker.

It is never imported by the host. It reads the code to run from stdin, and as root isolates itself
(network, mount and pid namespaces, read-only filesystem, a size-capped tmpfs as its working
directory, private /proc), sets rlimits, drops to its role's uid and then runs its role in this same
interpreter, so no second exec is needed: ``run_candidate`` (the model's code, then serving the
checker) or ``run_checker`` (the test part). The verdict is the checker's exit status; exit codes
are documented on the two functions. 97 = an isolation step the host asked for failed (never run
anything less isolated than asked).
"""
import ctypes
import marshal
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS = (
    0x00020000, 0x40000000, 0x20000000, 0x08000000, 0x04000000)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOEXEC = 0x1, 0x2, 0x8
AT_FDCWD, AT_RECURSIVE, SYS_MOUNT_SETATTR = -100, 0x8000, 442  # x86_64 and aarch64 share 442
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
ISOLATION_FAILED = 97

_libc = ctypes.CDLL(None, use_errno=True)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _setattr(path: str, set_: int, clear: int) -> None:
    attr = _MountAttr(set_, clear, 0, 0)
    _check(_libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), AT_RECURSIVE,
                         ctypes.byref(attr), ctypes.sizeof(attr)), f"mount_setattr {path}")


def _isolate_filesystem(cfg: dict) -> None:
    workdir = cfg["workdir"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks back to the host
    # Directories the sandbox uid may not traverse (e.g. /root holding the interpreter) are
    # covered by an empty tmpfs, and only the paths the interpreter needs are bound back in.
    for hidden, needed in cfg.get("rebind", {}).items():
        fds = [os.open(p, os.O_PATH) for p in needed]
        _mount("tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for path, fd in zip(needed, fds):
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)
    # the interpreter's own directories stay executable (extension modules are mmapped with
    # PROT_EXEC); everything else becomes read-only, nosuid and noexec: no /bin/sh, no setuid
    exec_paths = [p for p in cfg.get("exec_paths", []) if os.path.isdir(p)]
    for path in exec_paths:
        _mount(path, path, None, MS_BIND | MS_REC)
    _setattr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0)
    for path in exec_paths:
        _setattr(path, 0, MOUNT_ATTR_NOEXEC)
    # the only writable place: a tmpfs of capped size and file count (RLIMIT_FSIZE bounds one
    # file, not how many), owned by the role's uid
    owner = "" if cfg.get("uid") is None else f",uid={cfg['uid']},gid={cfg['uid']}"
    _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
           f"size={cfg['workdir_mb']}m,nr_inodes={cfg['workdir_files']},mode=0700{owner}")


def _limits(cfg: dict) -> None:
    mib = 1024 * 1024
    pairs = {resource.RLIMIT_CORE: 0, resource.RLIMIT_AS: cfg["memory_mb"] * mib,
             resource.RLIMIT_CPU: cfg["cpu_s"], resource.RLIMIT_FSIZE: cfg["fsize_mb"] * mib,
             resource.RLIMIT_NOFILE: cfg["nofile"], resource.RLIMIT_NPROC: cfg["nproc"]}
    for which, value in pairs.items():
        resource.setrlimit(which, (value, value))


def _drop_privileges(cfg: dict) -> None:
    if cfg.get("uid") is None:
        return
    os.setgroups([])
    os.setgid(cfg["uid"])
    os.setuid(cfg["uid"])
    # set after setuid: a credential change clears it. The pid namespace dies with its init.
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")


def _protect_checker(cfg: dict) -> None:
    """A non-dumpable process cannot be ptraced, nor its /proc/<pid>/mem read or written, by a
    process of the same uid: this guards the checker where the host gives both roles one uid."""
    if cfg["role"] == "checker":
        _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl dumpable")


def _relay(child: int, cfg: dict) -> None:
    """Outer stage in the pid-namespace case: wait for the init child and exit like it.

    On SIGTERM (the host's timeout) it kills the init and reaps it: the kernel empties the
    namespace before the init's exit completes, so when this stage is gone every process the
    program started is gone too. It closes its copies of the pipe ends, so that the other role
    sees end-of-file as soon as the namespace is gone."""
    for fd in (cfg["req_fd"], cfg["rep_fd"]):
        os.close(fd)
    signal.signal(signal.SIGTERM, lambda *_: _kill_quietly(child))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(ISOLATION_FAILED)
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _kill_quietly(pid: int) -> None:
    try:  # the host's SIGTERM may come just after the init was reaped
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# the two roles. builtins, serve, Client, bind and CHECKER_LOST come from _sandbox_wire.py, which
# the host puts before this source in the one ``-c`` program.

def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - the program may have closed or replaced it
            pass


def _fail(code: int, message: str = "") -> None:
    import traceback

    _flush()
    if message:
        os.write(2, (message + "\n").encode())
    else:
        traceback.print_exc()
    _flush()
    os._exit(code)


def run_candidate(source: str, path: str, cfg: dict) -> None:
    """Exit 1 = the model's code raised, 3 = it called exit, 0 = the checker closed the pipe."""
    sys.path[0] = os.getcwd()  # as for `python program.py`: its own directory first
    sys.path.extend(p for p in cfg.get("site_dirs", []) if p not in sys.path)
    namespace = {"__name__": "__main__", "__file__": path, "__builtins__": builtins}
    try:
        exec(compile(source, path, "exec"), namespace)
    except SystemExit:
        _fail(3, "SystemExit: the program exited before its tests ran")
    except BaseException:  # noqa: BLE001 - any error of the program is its failure
        namespace.clear()  # free what it held (a MemoryError) before the traceback is printed
        _fail(1)
    _flush()
    serve(namespace, cfg["req_fd"], cfg["rep_fd"])
    _flush()
    os._exit(0)


def run_checker(source: str, path: str, cfg: dict) -> None:
    """Exit 0 = every statement of the test part ran, 1 = one raised, 3 = it called exit,
    4 (CHECKER_LOST) = the candidate went away or broke the protocol, even if the test caught it."""
    sys.path[:] = [p for p in sys.path if p] + list(cfg.get("site_dirs", []))  # not its cwd
    client = Client(cfg["req_fd"], cfg["rep_fd"])
    namespace = {"__name__": "__main__", "__file__": path, "__builtins__": builtins}
    try:
        namespace.update(bind(client, cfg["names"]))
        exec(compile(source, path, "exec"), namespace)
    except SystemExit:
        _fail(3, "SystemExit in the test part")
    except BaseException:  # noqa: BLE001 - a failing test statement is the verdict
        if client.lost:
            _fail(CHECKER_LOST, "CandidateLost: " + client.lost)
        _fail(1)
    if client.lost:  # the test swallowed it: still no pass
        _fail(CHECKER_LOST, "CandidateLost: " + client.lost)
    _flush()
    os._exit(0)


def _read_source() -> str:
    chunks = []
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            return b"".join(chunks).decode("utf-8")
        chunks.append(chunk)


def main() -> None:
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))  # marshal: built in, no import cost
    source = _read_source()  # via stdin, not a file the other role could rewrite first
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    try:
        if cfg["namespaces"]:
            flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
            _check(_libc.unshare(flags), "unshare")
            _isolate_filesystem(cfg)
            child = os.fork()
            if child:
                _relay(child, cfg)
            # pid 1 of the new namespace: a private /proc hides the host's processes
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        _limits(cfg)
        _drop_privileges(cfg)
        _protect_checker(cfg)
        os.chdir(cfg["workdir"])
        path = os.path.join(cfg["workdir"], cfg["filename"])
        with open(path, "w", encoding="utf-8") as fh:  # for tracebacks and __file__
            fh.write(source)
    except OSError as exc:
        os.write(2, f"sandbox isolation failed: {exc}\n".encode())
        os._exit(ISOLATION_FAILED)
    (run_checker if cfg["role"] == "checker" else run_candidate)(source, path, cfg)


main()
