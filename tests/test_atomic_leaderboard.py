"""A leaderboard write that fails midway (the disk fills up) leaves the earlier file intact.

The failure is real, not a mock of one write call: a subprocess lowers its RLIMIT_FSIZE below the size
of the new file and ignores SIGXFSZ, so the kernel refuses the write past that size (EFBIG) whichever
way the file is written. Written in place, the old file would be truncated and half-rewritten;
written to a temporary file and renamed over, it is untouched and no temporary file is left behind.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from harness.core import leaderboard
from tests.conftest import cli_env

LIMIT = 1024  # bytes: more than the old file, far less than the new one


def _row(router: str, benchmark: str = "gsm8k") -> dict:
    return {"router": router, "pool": "paper5", "protocol": "none", "profile": "-", "seed": 0,
            "benchmark": benchmark, "metric": "accuracy", "score": 50.0, "normalized": 0.0, "n_items": 1,
            "n_dropped": 0}


SCRIPT = textwrap.dedent("""
    import json, resource, signal, sys
    from harness.core import leaderboard
    call, payload, limit = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        if call == "update":
            leaderboard.update(payload)
        else:
            leaderboard.set_many([(match, values) for match, values in payload])
    except OSError as exc:
        print("write failed:", exc)
        sys.exit(3)
""")


@pytest.mark.parametrize("call", ["update", "set_many"])
def test_failed_write_keeps_the_old_leaderboard(results_dir, call):
    leaderboard.update([_row("fixed:old-a"), _row("fixed:old-b")])
    before = leaderboard.csv_path().read_bytes()
    assert 0 < len(before) < LIMIT
    if call == "update":
        payload = [_row(f"fixed:new-{k}", b) for k in range(20) for b in ("gsm8k", "math")]
    else:  # a long cost note in both old rows: the rewritten file outgrows the limit
        payload = [[{"router": r}, {"gflops": "9" * 2000}] for r in ("fixed:old-a", "fixed:old-b")]
    proc = subprocess.run([sys.executable, "-c", SCRIPT, call, json.dumps(payload), str(LIMIT)],
                          env=cli_env(results_dir), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3 and "write failed" in proc.stdout, proc.stdout + proc.stderr
    assert leaderboard.csv_path().read_bytes() == before
    left = sorted(p.name for p in results_dir.iterdir() if not p.name.endswith(".lock"))  # the writers' lock
    assert left == ["leaderboard.csv"]  # no temporary file left over
