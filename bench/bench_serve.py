"""Load test of ``routing-harness serve``, loopback only: REQUESTS chat completions at CONCURRENCY
against fake upstream candidates (one process, harness/serve/fake_upstream.py), through a routing
server (its own process, the real CLI) serving each router in turn. Reports requests lost (must be 0),
the routing overhead per request (the server's ``x-routing-ms``: parse, queue and predict) p50/p95,
end-to-end latency p50/p95 and throughput; baselines: the fake upstream alone, and the server passing
requests through without routing.

    .venv/bin/python bench/bench_serve.py [--requests 2000] [--concurrency 32] [--routers knn,mlc]

Routers are fitted at start-up (``--fit pool``) on KNN_BENCHMARKS / the MLC options below: the
per-request cost of knn is the query's MiniLM embedding plus a brute-force search (the training-set
size changes it little), and MLC's is one MiniLM forward of the cpu profile (max_query_len 96)
whatever it was trained on, so small fits measure the served cost of the full routers. Every phase
has a hard time bound; requests still open then count as lost. A share of requests stream.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import numpy as np

from benchmarks import PAPER_BENCHMARKS
from harness.core import store
from harness.core.pools import PAPER5

ROOT = Path(__file__).resolve().parent.parent
KNN_BENCHMARKS = "humaneval,mbpp,mtbench"  # 501 items: a cold fit embeds them in ~1 min here
ROUTER_ARGS = {
    "knn": ["--fit", "pool", "--benchmarks", KNN_BENCHMARKS],
    "mlc": ["--fit", "pool", "--profile", "cpu", "--option", "max_train_items=64", "--option", "epochs=1"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc: subprocess.Popen, limit_s: float, log: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if proc.poll() is not None:
            sys.exit(f"{url}: the server exited ({proc.returncode}); its log:\n{log.read_text()[-3000:]}")
        try:
            if httpx2.get(f"{url}/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx2.TransportError:
            pass
        time.sleep(0.5)
    sys.exit(f"{url}: not up after {limit_s:.0f} s; its log:\n{log.read_text()[-3000:]}")


def prompts(n: int, seed: int = 0) -> list[str]:
    """n real prompts, a seeded mix of the seven benchmarks."""
    pool = [p for b in PAPER_BENCHMARKS for p in store.load(b, PAPER5).prompts]
    rng = np.random.default_rng(seed)
    return [pool[i] for i in rng.choice(len(pool), n, replace=False)]


async def one(client: httpx2.AsyncClient, url: str, body: dict, expect: str | None) -> dict:
    """One request; 'ok' only if the answer came back whole from the candidate the server named."""
    started = time.perf_counter()
    try:
        if body.get("stream"):
            async with client.stream("POST", url, json=body) as reply:
                text, done = "", False
                async for line in reply.aiter_lines():
                    if line == "data: [DONE]":
                        done = True
                    elif line.startswith("data: "):
                        chunk = json.loads(line[6:])
                        text += "".join(c["delta"].get("content") or "" for c in chunk.get("choices", []))
                status, headers = reply.status_code, reply.headers
                ok_body = done
        else:
            reply = await client.post(url, json=body)
            status, headers = reply.status_code, reply.headers
            text = reply.json()["choices"][0]["message"]["content"] if status == 200 else ""
            ok_body = True
    except (httpx2.HTTPError, ValueError, KeyError) as exc:
        return {"ok": False, "why": type(exc).__name__, "ms": (time.perf_counter() - started) * 1000}
    chosen = headers.get("x-routing-candidate") or expect
    ok = status == 200 and ok_body and chosen is not None and text.startswith(f"[{chosen}|")
    return {"ok": ok, "why": None if ok else f"HTTP {status}", "ms": (time.perf_counter() - started) * 1000,
            "routing_ms": float(headers.get("x-routing-ms", "nan")), "candidate": chosen}


async def load(url: str, model: str | None, texts: list[str], concurrency: int, stream_share: float,
               limit_s: float) -> tuple[list[dict], float]:
    """len(texts) requests, ``concurrency`` at a time; model None: the fake upstream's own candidates."""
    results: list[dict] = []
    todo = iter(range(len(texts)))
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx2.AsyncClient) -> None:
        for i in todo:
            cand = PAPER5[i % len(PAPER5)]
            target = f"{url}/{cand}/v1/chat/completions" if model is None else f"{url}/v1/chat/completions"
            body = {"model": model or cand, "messages": [{"role": "user", "content": texts[i]}],
                    "stream": (i % 100) < stream_share * 100}
            results.append(await one(client, target, body, cand if model is None else None))

    started = time.perf_counter()
    async with httpx2.AsyncClient(timeout=60, limits=limits) as client:
        tasks = [asyncio.create_task(worker(client)) for _ in range(concurrency)]
        done, pending = await asyncio.wait(tasks, timeout=limit_s)
        for task in pending:
            task.cancel()
    return results, time.perf_counter() - started


def summary(name: str, results: list[dict], total: int, seconds: float, extra: str = "") -> str:
    ok = [r for r in results if r["ok"]]
    ms = np.array([r["ms"] for r in ok]) if ok else np.array([np.nan])
    routing = np.array([r.get("routing_ms", np.nan) for r in ok]) if ok else np.array([np.nan])
    has_routing = not np.all(np.isnan(routing))
    route = f"{np.nanpercentile(routing, 50):8.1f} {np.nanpercentile(routing, 95):8.1f}" if has_routing \
        else f"{'-':>8} {'-':>8}"
    return (f"| {name:<26} | {total - len(ok):>4} | {route} | {np.percentile(ms, 50):8.1f} "
            f"{np.percentile(ms, 95):8.1f} | {len(ok) / seconds:7.1f} | {extra}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--routers", default="knn,mlc", help="comma list of: knn, mlc")
    p.add_argument("--stream-share", type=float, default=0.25, help="share of requests that stream")
    p.add_argument("--solo", type=int, default=50, help="requests sent one at a time per router first (0: none)")
    p.add_argument("--time-limit", type=float, default=900, help="hard bound per load phase, seconds")
    p.add_argument("--start-limit", type=float, default=900, help="hard bound on a router's start-up (its fit)")
    args = p.parse_args()
    if not (1 <= args.requests <= 20000 and 1 <= args.concurrency <= 256 and 0 <= args.solo <= args.requests):
        sys.exit("--requests 1..20000, --concurrency 1..256, --solo 0..requests (a bounded loopback test)")

    texts = prompts(args.requests)
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    procs: list[subprocess.Popen] = []
    env_python = [sys.executable]
    rows = []
    try:
        fake_port = free_port()
        fake_url = f"http://127.0.0.1:{fake_port}"
        procs.append(start([*env_python, "-m", "harness.serve.fake_upstream", "--port", str(fake_port),
                            "--candidates", ",".join(PAPER5)], work / "fake.log"))
        wait_healthy_fake(fake_url, procs[-1], work / "fake.log")
        config = work / "serve.json"
        config.write_text(json.dumps({"candidates": {m: {"base_url": f"{fake_url}/{m}/v1", "model": f"upstream/{m}",
                                                         "timeout": 60} for m in PAPER5}}))
        res, secs = asyncio.run(load(fake_url, None, texts, args.concurrency, args.stream_share, args.time_limit))
        rows.append(summary("fake upstream alone", res, len(texts), secs))
        for router in [r for r in args.routers.split(",") if r]:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log = work / f"serve-{router}.log"
            procs.append(start([*env_python, "-m", "harness", "serve", "--config", str(config), "--router", router,
                                "--port", str(port), *ROUTER_ARGS[router]], log))
            up_s = wait_healthy(url, procs[-1], args.start_limit, log)
            if not rows[1:]:  # the proxy alone, once: same server, a candidate named directly
                res, secs = asyncio.run(load(url, PAPER5[0], texts, args.concurrency, args.stream_share,
                                             args.time_limit))
                rows.append(summary("server, pass-through", res, len(texts), secs))
            if args.solo:  # one request at a time: the router's own cost, no queueing behind others
                res, secs = asyncio.run(load(url, f"router-{router}", texts[:args.solo], 1, 0.0, args.time_limit))
                rows.append(summary(f"router-{router}, one at a time", res, args.solo, secs))
            res, secs = asyncio.run(load(url, f"router-{router}", texts, args.concurrency, args.stream_share,
                                         args.time_limit))
            info = httpx2.get(f"{url}/info", timeout=10).json()["routers"][0]
            shares = {m: sum(r.get("candidate") == m for r in res) for m in PAPER5}
            rows.append(summary(f"router-{router}, C={args.concurrency}", res, len(texts), secs,
                                f"mean batch {info['mean_batch_size']}, start-up {up_s:.0f} s "
                                f"(`{' '.join(ROUTER_ARGS[router])}`); picks {list(shares.values())}"))
            procs.pop().terminate()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    print(f"{args.requests} requests, concurrency {args.concurrency}, {args.stream_share:.0%} streamed; "
          f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores")
    print("| phase                      | lost | routing ms p50 p95 | end-to-end ms p50 p95 | req/s | notes")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row)


def wait_healthy_fake(url: str, proc: subprocess.Popen, log: Path) -> None:
    started = time.monotonic()
    while time.monotonic() - started < 60:
        if proc.poll() is not None:
            sys.exit(f"fake upstream exited; its log:\n{log.read_text()[-2000:]}")
        try:
            httpx2.get(f"{url}/{PAPER5[0]}/v1/models", timeout=2)
            return
        except httpx2.TransportError:
            time.sleep(0.2)
    sys.exit("fake upstream not up after 60 s")


if __name__ == "__main__":
    main()
