"""The sandbox against hostile programs: each is scored a failure, the host keeps running, and
nothing outside the program's temporary directory changes. A graded program cannot forge its
verdict: the tests run in a checker process the model's code cannot reach (see sandbox.py)."""
from __future__ import annotations

import os
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
    """Processes still running under any of the sandbox's slot uids (candidate and checker)."""
    uids = {uid + role for uid in list(sb._slots.queue) for role in (0, 1)}
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


def test_isolation_report_says_what_the_probe_found(sandbox):
    """Each optional layer reads yes exactly when the probe found it, and a program run in the
    sandbox sees what the report claims: its own uid, its own pid namespace."""
    def said(prefix: str) -> bool:
        line = next(line for line in ISO.lines() if line.startswith(prefix))
        return line.rsplit(": ", 1)[1].startswith("yes")

    assert said("separate uid per slot") == ISO.separate_uid
    for prefix in ("no network", "read-only filesystem", "private pid namespace"):
        assert said(prefix) == ISO.namespaces, prefix
    out = sandbox.run("import os\nprint('uid', os.getuid(), 'pid', os.getpid())")
    assert out.passed, out.output
    uid, pid = (int(x) for x in out.output.split()[1::2])
    assert (uid != os.getuid()) == ISO.separate_uid
    assert (pid < 100) == ISO.namespaces  # a fresh pid namespace numbers from 1


# ---------------------------------------------------------------------------------------------
# file size and the working directory's total

def test_one_file_is_capped_by_rlimit_fsize():
    # the working directory could hold it (32 MB), the per-file limit (1 MB) must stop it
    sb = Sandbox(Limits(timeout_s=5.0, fsize_mb=1, workdir_mb=32), workers=1)
    out = sb.run("open('big.bin', 'wb').write(b'x' * 4 * 1024 ** 2)\nprint('wrote 4 MB')")
    assert out.status == "failed" and "File too large" in out.output, out.output


@needs_namespaces
@pytest.mark.parametrize("what, code", [
    ("many 1 MB files", "open(f'f{i}', 'wb').write(b'x' * 1024 ** 2)"),
    ("many empty files", "open(f'f{i}', 'w').close()"),
], ids=["1MB-files", "empty-files"])
def test_working_directory_total_is_capped(what, code):
    # each file is within RLIMIT_FSIZE; only a cap on the directory's total stops them
    sb = Sandbox(Limits(timeout_s=10.0, fsize_mb=4, workdir_mb=8, workdir_files=256), workers=1)
    out = sb.run("n = 0\ntry:\n    for i in range(2000):\n        " + code + "\n        n += 1\n"
                 "finally:\n    print('wrote', n)\n")
    assert out.status == "failed" and "No space left on device" in out.output, (what, out.output)
    assert int(out.output.split("wrote")[1].split()[0]) <= 256


# ---------------------------------------------------------------------------------------------
# forged verdicts: a graded program passes only when the benchmark's tests ran against its code

def completion(*lines: str) -> str:
    """A HumanEval/0 completion: a wrong body, then module-level code (the attack)."""
    return "    return True\n" + "".join(line + "\n" for line in lines)


FORGERIES = {
    # the old scheme's completion token sat in a frame of the first stage
    "walks the frames for a token": completion(
        "import os, re, sys", "f = sys._getframe()", "found = set()",
        "while f is not None:",
        "    for v in list(f.f_locals.values()) + list(f.f_globals.values()):",
        "        if isinstance(v, str) and re.fullmatch('[0-9a-f]{32}', v):",
        "            found.add(v)",
        "    f = f.f_back",
        "sys.stdout.flush()",
        "for t in found:",
        "    os.write(1, ('\\n' + t + '\\n').encode())",
        "os._exit(0)"),
    "reads /proc/self/mem for a token": completion(
        "import os, re", "found = []",
        "try:",
        "    mem = open('/proc/self/mem', 'rb', 0)",
        "    for line in open('/proc/self/maps'):",
        "        lo, hi = (int(x, 16) for x in line.split()[0].split('-'))",
        "        if 'r' in line.split()[1] and 'vvar' not in line and 'vsyscall' not in line:",
        "            try:",
        "                mem.seek(lo)",
        "                found += re.findall(rb'(?<![0-9a-f])[0-9a-f]{32}(?=\\n)', mem.read(hi - lo))",
        "            except (OSError, ValueError, OverflowError):",
        "                pass",
        "except OSError:",
        "    pass",
        "for t in found[-5:]:",
        "    os.write(1, b'\\n' + t + b'\\n')",
        "os._exit(0)"),
    "searches gc.get_objects for a token": completion(
        "import gc, os, re",
        "for o in gc.get_objects():",
        "    for r in gc.get_referents(o):",
        "        if isinstance(r, str) and re.fullmatch('[0-9a-f]{32}', r):",
        "            os.write(1, ('\\n' + r + '\\n').encode())",
        "os._exit(0)"),
    "exits with status 0 before the tests": completion("import os", "os._exit(0)"),
    "exits with status 0 when called": "    import os\n    os._exit(0)\n",
    "prints a fake success message": completion(
        "import os, sys", "print('passed')", "print('All tests passed: 0' * 1)", "sys.stdout.flush()",
        "os.write(1, b'\\n' + b'0' * 32 + b'\\n')", "os._exit(0)"),
    # a forged reply on every inherited fd: a pickle that would run os._exit(0) in a checker that
    # unpickled replies, a well-formed "True", and garbage
    "writes forged replies to inherited fds": completion(
        "import os, pickle, struct",
        "class Exit:",
        "    def __reduce__(self):",
        "        return (os._exit, (0,))",
        "frames = [pickle.dumps(Exit()), b'R' + b'T', b'\\xff' * 64]",
        "for fd in range(0, 1024):",
        "    for data in frames:",
        "        try:",
        "            os.write(fd, struct.pack('>I', len(data)) + data)",
        "        except OSError:",
        "            pass"),
    # an in-process runner compares with the candidate's own __eq__
    "returns an object equal to everything": completion(
        "class Anything:",
        "    __eq__ = lambda self, other: True",
        "    __ne__ = lambda self, other: False",
        "    __bool__ = lambda self: True",
        "def has_close_elements(numbers, threshold):",
        "    return Anything()"),
}


@pytest.mark.parametrize("attack", sorted(FORGERIES))
def test_forged_verdicts_fail(attack):
    from harness.grading import regrade

    right = regrade.humaneval_program("HumanEval/0", "    return any(abs(a - b) < threshold for i, a in "
                                      "enumerate(numbers) for b in numbers[i + 1:])\n")
    forged = regrade.humaneval_program("HumanEval/0", FORGERIES[attack])
    (ok, _), (forged_ok, why) = regrade.run_programs([right, forged], use_cache=False)
    assert ok, "the right completion must pass, or this test proves nothing"
    assert not forged_ok, f"{attack}: scored as passed ({why})"


# what a candidate controls in an in-process runner but not here: the test's helpers and builtins
HIJACKS = {
    # HumanEval/32 checks find_zero's answer with the prompt's poly(): a candidate's poly must not count
    "redefines the prompt's helper": ("humaneval", "HumanEval/32",
                                      "    return 0.0\n\n\ndef poly(xs, x):\n    return 0.0\n"),
    # MBPP item 56 compares with set(...): a candidate's own `set` must not count
    "rebinds a builtin the test uses": ("mbpp", "56",
                                        "def common_in_nested_lists(lists):\n    return 1\nset = lambda *a: 1\n"),
    # MBPP item 29 calls math.isclose: only the real math module may answer
    "binds a fake math module": ("mbpp", "29", "class math:\n    isclose = staticmethod(lambda *a, **k: True)\n"
                                              "def volume_sphere(r):\n    return 0\n"),
    # the model's own trailing asserts belong to the candidate part (they would run as trusted code)
    "ends its code with an assert that exits": ("mbpp", "0", "def remove_Occ(s, c):\n    return s\n"
                                                            "assert __import__('os')._exit(0) is None\n"),
}


@pytest.mark.parametrize("attack", sorted(HIJACKS))
def test_hijacked_tests_fail(attack):
    from harness.grading import programs, regrade

    bench, item, code = HIJACKS[attack]
    if bench == "humaneval":
        program = programs.humaneval(programs.humaneval_problem(item), code)
    else:
        program = programs.mbpp(code + "\n" + programs.mbpp_golds()[item], programs.mbpp_golds()[item])
    assert program.test and "_exit" not in program.test
    (ok, why), = regrade.run_programs([program], use_cache=False)
    assert not ok, f"{attack}: scored as passed"


LEGIT = [  # what the benchmarks' tests do with the candidate's code keeps working across the pipe
    ("import numpy as np\ndef f(x):\n    return np.int64(x) * 2", "assert f(3) == 6 and f(2) is not None"),
    ("def f(n):\n    return (i * i for i in range(n))", "assert list(f(4)) == [0, 1, 4, 9]\nassert 9 in f(4)"),
    ("class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
     "def longest(ps):\n    return max(p.b - p.a for p in ps)",
     "assert longest([Pair(1, 5), Pair(2, 3)]) == 4\nassert Pair(1, 2).b == 2"),
    ("def f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x",
     "try:\n    f(-1)\nexcept ValueError as e:\n    assert 'negative' in str(e)\nelse:\n    assert False"),
    ("import math\ndef f(x):\n    return {'nan': math.nan, 'inf': -math.inf, 'c': 1 + 2j, 'b': b'x', "
     "'s': {1, 2}, 'fs': frozenset({(1, 'a')}), 'big': 3 ** 200, 'neg': -1, 'none': None}[x]",
     "import math\nassert math.isnan(f('nan')) and f('inf') == -math.inf and f('c') == 1 + 2j\n"
     "assert f('b') == b'x' and f('s') == {1, 2} and f('fs') == frozenset({(1, 'a')})\n"
     "assert f('big') == 3 ** 200 and f('neg') == -1 and f('none') is None"),
    ("def sum(a, b):\n    return a + b", "assert sum(2, 3) == 5"),  # MBPP item 67 tests a function named sum
    ("def f(xs):\n    return len(xs) > 2", "assert f([1, 2, 3]) is True\nassert f([]) is False"),
]


@pytest.mark.parametrize("candidate, test", LEGIT)
def test_tests_still_see_the_candidates_values(sandbox, candidate, test):
    from harness.grading.programs import Program

    out = sandbox.run(Program(candidate, test))
    assert out.passed, out.output


@needs_namespaces
def test_candidate_cannot_reach_the_checker(sandbox):
    # it signals every process it can see and every one of its uid; the checker, in its own pid
    # namespace under its own uid, still runs the tests against the (right) function
    from harness.grading.programs import Program

    code = ("import os, signal\nfor pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
            "    if pid != os.getpid():\n        try:\n            os.kill(pid, signal.SIGKILL)\n"
            "        except OSError:\n            pass\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n"
            "    pass\nprint(sorted(os.listdir('/proc')))\ndef f(x):\n    return x + 1\n")
    out = sandbox.run(Program(code, "assert f(1) == 2"))
    assert out.passed, out.output


def test_reply_decoding_is_strict():
    from harness.grading import _sandbox_wire as wire

    refs: list = []
    value = [None, True, False, 0, -1, 2 ** 100, -(3 ** 90), 1.5, float("inf"), -0.0, 1 + 2j, "é\ud800",
             b"\x00", (1, (2,)), {1, 2}, frozenset({"a"}), {"k": [1], (1, 2): {}}, object()]
    out = bytearray()
    wire.encode(value, out, lambda v: (refs.append(v) or len(refs) - 1, type(v).__name__, False))
    decoded = wire.decode(bytes(out), lambda rid, kind, module: ("ref", rid, kind))
    assert decoded[:-1] == value[:-1] and decoded[-1] == ("ref", 0, "object") and refs[0] is value[-1]
    assert str(wire.decode(bytes(_enc(float("nan"))), None)) == "nan"
    bad = [b"", b"X", b"i\x00\x00\x00\x09\x01", b"l\xff\xff\xff\xff", b"NN", b"s\x00\x00\x00\x01\xff",
           b"S\x00\x00\x00\x01l\x00\x00\x00\x00",  # a set holding a list
           b"l\x00\x00\x00\x01" * 200 + b"N"]  # nested too deep
    for data in bad:
        with pytest.raises(wire.ProtocolError):
            wire.decode(data, lambda *a: None)


def _enc(value) -> bytearray:
    from harness.grading import _sandbox_wire as wire

    out = bytearray()
    wire.encode(value, out, None)
    return out


def test_one_text_programs_are_split_by_their_benchmark_test():
    # importers hand over one text; only a known benchmark test at its end makes it gradable
    from harness.grading import programs, regrade

    problem = programs.humaneval_problem("HumanEval/32")
    text = regrade.humaneval_program("HumanEval/32", "    return 0.0\n")
    assert programs.split_source(text) == (problem["prompt"] + "    return 0.0\n", programs.humaneval_test(problem))
    gold = programs.mbpp_golds()["0"]
    assert programs.split_source("def remove_Occ(s, c):\n    return s\n" + "\n" + gold) == \
        ("def remove_Occ(s, c):\n    return s\n\n", gold.strip("\n") + "\n")
    # no benchmark test: not run, so a program cannot pass by merely running to its end
    assert regrade.run_programs(["def f():\n    return 1\nassert f() == 1\n"], use_cache=False) == \
        [(False, regrade.NO_TEST)]
