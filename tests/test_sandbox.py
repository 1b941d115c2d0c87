"""The sandbox against hostile programs: each is scored a failure, the host keeps running, and
nothing outside the program's temporary directory changes."""
from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest

from harness.grading.sandbox import Limits, Sandbox, isolation

ISO = isolation()
needs_namespaces = pytest.mark.skipif(not ISO.namespaces, reason="no namespaces on this host: "
                                      "the filesystem and network outside are not isolated")


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(Limits(timeout_s=3.0, memory_mb=512, nproc=32), workers=2)


def slot_processes(sb: Sandbox) -> list[int]:
    """Processes still running under any of the sandbox's slot uids."""
    uids = set(list(sb._slots.queue))
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            uid_line = next((l for l in status.splitlines() if l.startswith("Uid:")), "")
            if uid_line and int(uid_line.split()[1]) in uids:
                found.append(int(entry.name))
    return found


def test_plain_programs_pass_and_fail(sandbox):
    ok, bad, err = sandbox.run_many(["assert sum(range(4)) == 6\nprint('fine')",
                                     "assert 1 == 2", "raise ValueError('x')"])
    assert ok.passed and "fine" in ok.output
    assert bad.status == "failed" and "AssertionError" in bad.output
    assert err.status == "failed" and "ValueError" in err.output


@pytest.mark.parametrize("code", ["import os\nos._exit(0)\nassert False",
                                  "import sys\nsys.exit(0)\nassert False", "exit()"])
def test_exiting_before_the_end_is_no_pass(sandbox, code):
    assert sandbox.run(code).status == "failed"


def test_infinite_loop_times_out(sandbox):
    start = time.monotonic()
    out = sandbox.run("while True:\n    pass")
    assert out.status == "timeout" and time.monotonic() - start < 3.0 + 2.0


def test_sleeping_program_times_out_on_wall_clock(sandbox):
    out = sandbox.run("import time\ntime.sleep(60)")
    assert out.status == "timeout" and out.seconds < 5.0


@pytest.mark.skipif(not (ISO.namespaces or ISO.separate_uid),
                    reason="a fork bomb can only be bounded with a separate uid or a pid namespace")
def test_fork_bomb_is_bounded_and_cleaned_up(sandbox):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    out = sandbox.run(bomb)
    assert not out.passed and time.monotonic() - start < 8.0
    time.sleep(0.2)
    assert slot_processes(sandbox) == [], "fork bomb processes survived the sandbox"
    assert sandbox.run("assert 2 + 2 == 4").passed  # the host and the harness keep running


def test_fork_bomb_cannot_exceed_nproc(sandbox):
    if not (ISO.namespaces or ISO.separate_uid):
        pytest.skip("RLIMIT_NPROC is not enforced for root")
    counting = ("import os\nn = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n"
                "    except OSError:\n        break\n    if pid == 0:\n        import time\n"
                "        time.sleep(30)\n        os._exit(0)\n    n += 1\nprint('forked', n)\nassert n >= 200\n")
    out = sandbox.run(counting)
    assert out.status == "failed" and "forked" in out.output
    assert int(out.output.split("forked")[1].split()[0]) < 32
    time.sleep(0.2)
    assert slot_processes(sandbox) == []


@pytest.mark.parametrize("code", ["x = bytearray(8 * 1024 ** 3)",
                                  "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 ** 2))"])
def test_memory_bomb_fails(sandbox, code):
    out = sandbox.run(code)
    assert out.status == "failed" and "MemoryError" in out.output


@pytest.fixture
def canary(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    path = folder / "canary.txt"
    path.write_text("untouched")
    return path


def _tree(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("action", [
    "open({new!r}, 'w').write('x')",
    "open({canary!r}, 'a').write('changed')",
    "os.remove({canary!r})",
    "os.rename({canary!r}, {new!r})",
    "shutil.rmtree({folder!r})",
    "open({tmp_escape!r}, 'w').write('x')",
])
def test_files_outside_its_directory_are_out_of_reach(sandbox, canary, action):
    if "tmp_escape" in action and not ISO.namespaces:
        pytest.skip("without a mount namespace world-writable /tmp stays writable")
    tmp_escape = f"/tmp/rh-escape-{uuid.uuid4().hex}"
    code = "import os, shutil\n" + action.format(new=str(canary.parent / "new.txt"), canary=str(canary),
                                                folder=str(canary.parent), tmp_escape=tmp_escape)
    before = _tree(canary.parent)
    out = sandbox.run(code)
    assert out.status == "failed"
    assert _tree(canary.parent) == before and canary.read_text() == "untouched"
    assert not os.path.exists(tmp_escape)


def test_writing_inside_its_directory_works(sandbox):
    code = ("import os, tempfile\nopen('a.txt', 'w').write('x')\nos.remove('a.txt')\n"
            "with tempfile.NamedTemporaryFile() as fh:\n    fh.write(b'y')\n")
    assert sandbox.run(code).passed


def test_environment_secret_is_not_inherited(sandbox, monkeypatch):
    monkeypatch.setenv("RH_TEST_SECRET_KEY", "sk-do-not-leak")
    out = sandbox.run("import os\nprint(sorted(os.environ))\nassert os.environ['RH_TEST_SECRET_KEY']")
    assert out.status == "failed" and "sk-do-not-leak" not in out.output


def test_environment_secret_not_readable_through_proc(sandbox, monkeypatch):
    monkeypatch.setenv("RH_TEST_SECRET_KEY", "sk-do-not-leak")
    code = f"print(open('/proc/{os.getpid()}/environ', 'rb').read())"
    out = sandbox.run(code)
    assert out.status == "failed" and "sk-do-not-leak" not in out.output


def test_socket_cannot_reach_the_host():
    sb = Sandbox(Limits(timeout_s=3.0, memory_mb=512), workers=1)
    if not ISO.namespaces:
        pytest.skip("no network namespace on this host: sockets are not isolated")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.5)
        port = server.getsockname()[1]
        out = sb.run(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
                     "s.sendall(b'stolen')")
        assert out.status == "failed"
        with pytest.raises(socket.timeout):
            server.accept()


@needs_namespaces
def test_os_system_and_subprocess_fail(sandbox):
    marker = f"/tmp/rh-system-{uuid.uuid4().hex}"
    for code in [f"import os\nassert os.system('touch {marker}') == 0",
                 f"import subprocess\nsubprocess.run(['touch', '{marker}'], check=True)"]:
        assert sandbox.run(code).status == "failed"
    assert not os.path.exists(marker)


def test_killing_its_parent_or_the_host_fails(sandbox):
    host, group = os.getpid(), os.getpgid(0)
    # each program passes only if its attack worked
    parent = ("import os, signal, time\nppid = os.getppid()\nos.kill(ppid, signal.SIGKILL)\n"
              "time.sleep(0.3)\ntry:\n    os.kill(ppid, 0)\nexcept ProcessLookupError:\n    pass\n"
              "else:\n    raise RuntimeError('parent survived')\n")
    for code in [parent,
                 f"import os, signal\nos.kill({host}, signal.SIGKILL)",
                 f"import os, signal\nos.killpg({group}, signal.SIGKILL)",
                 "import os, signal\nos.kill(-1, signal.SIGKILL)\nimport time\ntime.sleep(1)"]:
        assert not sandbox.run(code).passed
    os.kill(host, 0)  # still here
    assert sandbox.run("assert True").passed


def test_parallel_across_workers_keeps_order():
    sb = Sandbox(Limits(timeout_s=5.0), workers=2)
    programs = [f"import time\ntime.sleep(0.4)\nassert {i} % 2 == 0" for i in range(6)]
    start = time.monotonic()
    outcomes = sb.run_many(programs)
    elapsed = time.monotonic() - start
    assert [o.passed for o in outcomes] == [i % 2 == 0 for i in range(6)]
    assert elapsed < 6 * 0.4  # at least some overlap between the two workers


def test_isolation_report_names_every_layer():
    text = "\n".join(ISO.lines())
    for layer in ["process group", "rlimits", "scrubbed environment", "network", "read-only", "pid"]:
        assert layer in text


def test_host_survives_signal_state():
    # the sandboxed kill attempts above must not have left the host with odd signal handlers
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.default_int_handler)
