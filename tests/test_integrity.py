"""Integrity (issue 18): the cache is verified by content, parallel writers share one lock whatever
their TMPDIR, an empty candidate file is an error rather than a NaN row, SIGTERM stops a run in one
line with all of its results or none, a run of fewer benchmarks keeps the others in its run file,
the judge survives malformed answers and takes its timeout from the environment, and a plug-in
router's wrong answer is one line naming it. Every test here failed on the code before the fix."""
from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from harness.api import EvalConfig, evaluate
from harness.core import config, leaderboard, store
from harness.core.errors import HarnessError
from harness.grading import judge
from routers import register_router
from routers.base import Router
from tests.conftest import cli_env

YI_GSM8K = "test/GSM8k/Yi-1.5-34B-Chat.json.gz"
BOARD = "router,pool,protocol,profile,benchmark\nkeep,paper5,none,-,gsm8k\n"


def linked_copy(tmp_path: Path, real: tuple[str, ...] = ()) -> Path:
    """A copy of the cache made of symlinks (the shared data never changes), with the files in
    ``real`` copied, so that a test can edit them in place."""
    src = config.cache_root()
    dst = tmp_path / "data" / "compressed_data"
    for path in src.rglob("*"):
        if path.is_file() and path.name != ".verified.json":
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            rel = path.relative_to(src).as_posix()
            shutil.copy2(path, target) if rel in real else target.symlink_to(path)
    return dst


def cli(results: Path, *args: str, data: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    if data is not None:
        env.update(HARNESS_DATA_DIR=str(data.parent), HARNESS_CACHE_DIR=str(data.parent / "parsed"))
    return subprocess.run([sys.executable, "-m", "harness", *args], env=cli_env(results, **env),
                          capture_output=True, text=True, timeout=600)


def one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def board(results: Path) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    (results / "leaderboard.csv").write_text(BOARD)
    return results / "leaderboard.csv"


# --------------------------------------------------------------------------------------------------
# 1. verified by content


def same_size_edit(original: bytes, flips: int) -> bytes:
    """``original`` (a gzipped OpenCompass file) with ``flips`` correct verdicts made wrong, re-gzipped
    to exactly the same size: the deflate stream is shorter, and a gzip comment pads it out."""
    text = gzip.decompress(original).decode()
    text = text.replace('"correct": true', '"correct": false', flips)
    raw = text.encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = packer.compress(raw) + packer.flush()
    trailer = struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)
    header = b"\x1f\x8b\x08\x10" + struct.pack("<I", 0) + b"\x00\xff"  # FLG.FCOMMENT, mtime 0
    pad = len(original) - len(header) - len(deflated) - len(trailer) - 1
    assert pad >= 0, "the edited file compresses larger than the original"
    return header + b"x" * pad + b"\x00" + deflated + trailer


def test_edit_keeping_size_and_mtime_is_refused(tmp_path, results_dir):
    data = linked_copy(tmp_path, real=(YI_GSM8K,))
    assert cli(results_dir, "data", data=data).returncode == 0  # the copy verifies (and used to stamp)
    path = data / YI_GSM8K
    before = path.stat()
    edited = same_size_edit(path.read_bytes(), flips=50)
    assert json.loads(gzip.decompress(edited))["details"]  # still a readable cache file
    path.write_bytes(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    one_error_line(cli(results_dir, "data", data=data), str(path), "sha256 mismatch")
    csv_file = board(results_dir)
    one_error_line(cli(results_dir, "eval", "--router", "fixed:Yi-1.5-34B-Chat", "--benchmarks", "gsm8k",
                       data=data), str(path), "sha256 mismatch")
    assert csv_file.read_text() == BOARD


# --------------------------------------------------------------------------------------------------
# 2. one lock for every writer


def test_writers_with_different_tmpdirs_lose_no_rows(results_dir, tmp_path):
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from harness.core import leaderboard
        while not Path({str(go)!r}).exists():
            time.sleep(0.01)
        for k in range(30):
            leaderboard.update([{{"router": f"fixed:{{sys.argv[1]}}{{k}}", "pool": "paper5", "protocol": "none",
                                  "profile": "-", "seed": 0, "benchmark": "gsm8k", "metric": "accuracy",
                                  "score": 50.0, "normalized": 0.0, "n_items": 1, "n_dropped": 0}}])
    """)
    writers = "abcde"
    procs = []
    for name in writers:
        tmp = tmp_path / f"tmp-{name}"  # each writer its own TMPDIR, as in five terminals or jobs
        tmp.mkdir()
        procs.append(subprocess.Popen([sys.executable, "-c", script, name],
                                      env=cli_env(results_dir, TMPDIR=str(tmp))))
    time.sleep(3)  # all imported and waiting
    go.touch()
    assert [p.wait(timeout=300) for p in procs] == [0] * len(writers)
    routers = {r["router"] for r in leaderboard.read_rows(results_dir / "leaderboard.csv")}
    assert routers == {f"fixed:{name}{k}" for name in writers for k in range(30)}


# --------------------------------------------------------------------------------------------------
# 3. an empty candidate file


def test_empty_candidate_file_is_an_error(tmp_path, results_dir):
    from benchmarks.mtbench import JUDGE_PREFIX

    data = linked_copy(tmp_path)
    empty = data / "test/MT-Bench/judgments" / f"{JUDGE_PREFIX}Empty-Model_single.jsonl.gz"
    empty.write_bytes(gzip.compress(b""))  # an imported candidate with no judgment in it
    pool = "Yi-1.5-34B-Chat,Empty-Model"
    csv_file = board(results_dir)
    proc = cli(results_dir, "eval", "--router", "oracle", "--pool", pool, "--benchmarks", "mtbench", data=data)
    one_error_line(proc, "mtbench", pool, "Empty-Model", str(empty))
    assert csv_file.read_text() == BOARD


# --------------------------------------------------------------------------------------------------
# 4. SIGTERM


SLOW_ROUTER = textwrap.dedent('''
    import time
    from pathlib import Path
    import numpy as np
    from routers import register_router
    from routers.base import Router

    @register_router("slow_router")
    class Slow(Router):
        def predict(self, items):
            Path({ready!r}).touch()
            time.sleep(120)
            return np.ones((len(items), len(self.models)))
''')

SLOW_PUBLISH = textwrap.dedent('''
    import time
    from pathlib import Path
    from harness.core import leaderboard

    _update = leaderboard.update

    def slow_update(rows):  # the leaderboard write of publish(), held up while SIGTERM arrives
        Path({ready!r}).touch()
        time.sleep(3)
        _update(rows)

    leaderboard.update = slow_update
''')


def _terminate_when(ready: Path, proc: subprocess.Popen) -> tuple[int, str]:
    deadline = time.monotonic() + 300
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def test_sigterm_during_routing_writes_nothing(tmp_path, results_dir):
    ready = tmp_path / "ready"
    module = tmp_path / "slow.py"
    module.write_text(SLOW_ROUTER.format(ready=str(ready)))
    csv_file = board(results_dir)
    proc = subprocess.Popen([sys.executable, "-m", "harness", "eval", "--router", "slow_router",
                             "--benchmarks", "humaneval", "--router-module", str(module)],
                            env=cli_env(results_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, err = _terminate_when(ready, proc)
    assert code == 143, err
    assert err.strip().splitlines()[-1] == "interrupted by SIGTERM: nothing written for slow_router; earlier rows kept"
    assert "Traceback" not in err
    assert csv_file.read_text() == BOARD
    assert not (results_dir / "runs").exists()
    assert not [p for p in results_dir.rglob("*.tmp")]  # no temporary file left behind


def test_sigterm_while_publishing_lands_after_the_rows(tmp_path, results_dir):
    ready = tmp_path / "ready"
    module = tmp_path / "slow_publish.py"
    module.write_text(SLOW_PUBLISH.format(ready=str(ready)))
    board(results_dir)
    proc = subprocess.Popen([sys.executable, "-m", "harness", "eval", "--router", "oracle",
                             "--benchmarks", "humaneval", "--router-module", str(module)],
                            env=cli_env(results_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, err = _terminate_when(ready, proc)
    assert code == 143, err
    assert err.strip().splitlines()[-1] == "interrupted by SIGTERM after oracle's run file and rows were written"
    rows = leaderboard.read_rows(results_dir / "leaderboard.csv")
    assert {(r["router"], r["benchmark"]) for r in rows} == {("keep", "gsm8k"), ("oracle", "humaneval")}
    assert (results_dir / "runs" / "oracle__paper5.json").exists()


# --------------------------------------------------------------------------------------------------
# 4. a run of fewer benchmarks keeps the others in its run file


def test_run_of_fewer_benchmarks_keeps_the_others_in_the_run_file(results_dir):
    evaluate(EvalConfig(router="oracle", benchmarks=["mtbench", "gsm8k", "humaneval"]))
    path = results_dir / "runs" / "oracle__paper5.json"
    first = json.loads(path.read_text())
    evaluate(EvalConfig(router="oracle", benchmarks=["gsm8k"]))
    run = json.loads(path.read_text())
    assert list(run["benchmarks"]) == ["mtbench", "gsm8k", "humaneval"]
    assert run["kept_benchmarks"] == ["mtbench", "humaneval"]
    for name in ("mtbench", "humaneval"):  # kept as they were, saying which run they came from
        kept = run["benchmarks"][name]
        assert kept["choice"] == first["benchmarks"][name]["choice"]
        assert kept["earlier_run"]["provenance"] == first["provenance"]
    assert "earlier_run" not in run["benchmarks"]["gsm8k"]
    assert run["config"]["benchmarks"] == ["gsm8k"]  # what the latest run ran
    with open(results_dir / "leaderboard.csv", newline="") as fh:
        for row in csv.DictReader(fh):  # every row's run file holds its benchmark, with its score
            entry = json.loads((results_dir / row["run_file"]).read_text())["benchmarks"][row["benchmark"]]
            assert float(row["score"]) == pytest.approx(entry["score"], abs=1e-4)


# --------------------------------------------------------------------------------------------------
# 4/5. the judge: timeout from the environment, malformed answers


class Endpoint:
    """A local OpenAI-compatible endpoint on 127.0.0.1 answering HTTP 200 with scripted bodies
    (then a good completion), optionally after a delay."""

    GOOD = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "judge-x",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "Rating: [[7]]"}}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})

    def __init__(self, bodies: list[tuple[str, str]] | None = None, delay: float = 0.0):
        self.bodies, self.delay, self.requests = list(bodies or []), delay, 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.requests += 1
                time.sleep(endpoint.delay)
                body, kind = endpoint.bodies.pop(0) if endpoint.bodies else (Endpoint.GOOD, "application/json")
                data = body.encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def endpoint_factory():
    made: list[Endpoint] = []

    def make(*args, **kwargs) -> Endpoint:
        made.append(Endpoint(*args, **kwargs))
        return made[-1]

    yield make
    for e in made:
        e.close()


MSG = [{"role": "user", "content": "rate this"}]
BROKEN = [
    ('{"id": "x", "choices": [', "application/json", "not JSON: application/json"),
    ("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", "not JSON: text/html, '<html><body><h1>502"),
    ('{"id": "x", "object": "chat.completion", "choices": []}', "application/json", "an empty 'choices'"),
]


@pytest.mark.parametrize("body,kind,says", BROKEN, ids=["broken-json", "html", "empty-choices"])
def test_judge_malformed_answers_are_retried_then_one_line(endpoint_factory, tmp_path, monkeypatch, body, kind, says):
    server = endpoint_factory([(body, kind)] * 10)
    waits: list[float] = []
    monkeypatch.setattr(judge.time, "sleep", waits.append)  # the client's backoff, recorded, not slept
    client = judge.JudgeClient(judge.JudgeConfig(base_url=server.url, model="judge-x", max_retries=3,
                                                 backoff_s=0.5, cache_dir=tmp_path / "cache"))
    with pytest.raises(HarnessError) as err:
        client.complete(MSG)
    line = str(err.value)
    assert "\n" not in line and server.url in line and says in line and "after 4 tries" in line, line
    assert server.requests == 4 and client.tally.retries == 3  # bounded
    waits = [w for w in waits if w > 0]  # the client's own waits (libraries may sleep(0))
    assert len(waits) == 3 and waits[0] < waits[1] < waits[2]  # with backoff


def test_judge_recovers_after_malformed_answers(endpoint_factory, tmp_path, monkeypatch):
    server = endpoint_factory([(body, kind) for body, kind, _ in BROKEN])
    monkeypatch.setattr(judge.time, "sleep", lambda s: None)
    client = judge.JudgeClient(judge.JudgeConfig(base_url=server.url, model="judge-x", max_retries=4,
                                                 cache_dir=tmp_path / "cache"))
    out = client.complete(MSG)
    assert out["content"] == "Rating: [[7]]" and server.requests == 4 and client.tally.retries == 3
    assert (client.tally.prompt_tokens, client.tally.completion_tokens) == (5, 3)


def test_judge_timeout_from_the_environment(endpoint_factory, tmp_path, monkeypatch):
    server = endpoint_factory(delay=2.0)
    monkeypatch.setenv("JUDGE_BASE_URL", server.url)
    monkeypatch.setenv("JUDGE_MODEL", "judge-x")
    monkeypatch.setenv("JUDGE_TIMEOUT", "0.3")
    cfg = judge.JudgeConfig.from_env(max_retries=0, cache_dir=tmp_path / "cache")
    assert cfg.timeout_s == 0.3
    started = time.monotonic()
    with pytest.raises(HarnessError, match="APITimeoutError"):
        judge.JudgeClient(cfg).complete(MSG)
    assert time.monotonic() - started < 1.5  # gave up at the configured timeout, not the 120 s default
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv("JUDGE_TIMEOUT", bad)
        with pytest.raises(HarnessError, match=f"JUDGE_TIMEOUT='{bad}'"):
            judge.JudgeConfig.from_env()


# --------------------------------------------------------------------------------------------------
# 6. plug-in routers that answer wrongly


@register_router("integrity_names")
class ReturnsNames(Router):
    def predict(self, items):
        return [self.models[1]] * len(items)


@register_router("integrity_out_of_range")
class ReturnsIndices(Router):
    def predict(self, items):
        return np.r_[np.zeros(3, dtype=int), np.full(len(items) - 3, 7)]


@register_router("integrity_short")
class ReturnsTooFew(Router):
    def predict(self, items):
        return np.zeros((len(items) - 1, len(self.models)))


@register_router("integrity_raises")
class Raises(Router):
    def predict(self, items):
        return {"x": 1}["missing"]


@register_router("integrity_fit_raises")
class FitRaises(Router):
    learns = True

    def fit(self, train, valid=None):
        return 1 / 0

    def predict(self, items):
        return np.zeros((len(items), len(self.models)))


@pytest.mark.parametrize("router,fragments", [
    ("integrity_names", ["'integrity_names'", "'internlm2_5-20b-chat' (str) for item 0", "scores[i, 1] = 1"]),
    ("integrity_out_of_range", ["'integrity_out_of_range'", "item 3: 7, not a candidate index 0..4"]),
    ("integrity_short", ["'integrity_short'", "shape (163, 5), 163 rows for 164 items"]),
    ("integrity_raises", ["'integrity_raises'", "predict() raised KeyError: 'missing' (at test_integrity.py:"]),
    ("integrity_fit_raises", ["'integrity_fit_raises'", "fit() raised ZeroDivisionError", "test_integrity.py:"]),
])
def test_plug_in_router_mistakes_are_one_line(results_dir, router, fragments):
    with pytest.raises(HarnessError) as err:
        evaluate(EvalConfig(router=router, benchmarks=["humaneval"], folds=2), write=False)
    line = str(err.value)
    assert "\n" not in line
    for fragment in fragments:
        assert fragment in line, line
    assert not results_dir.exists()


@pytest.fixture(autouse=True)
def _fresh_store():
    store.clear_memo()  # tests here point the data at copies
    yield
    store.clear_memo()
