"""Benchmark adapters, one module per benchmark, registered by name.

    from benchmarks import register_benchmark
    from benchmarks.base import Benchmark

    @register_benchmark("mybench")
    class MyBench(Benchmark): ...
"""
from __future__ import annotations

from harness.core.registry import Registry

BENCHMARKS: Registry = Registry("benchmark")
register_benchmark = BENCHMARKS.register

# The paper's seven, in the order of its main table.
PAPER_BENCHMARKS = ["alpacaeval", "arenahard", "mtbench", "gsm8k", "math", "humaneval", "mbpp"]


def get_benchmark(name: str):
    cls, _ = BENCHMARKS.resolve(name)
    return cls()


def _load_builtin() -> None:
    from benchmarks import alpacaeval, arenahard, gsm8k, humaneval, math, mbpp, mtbench  # noqa: F401


def _load_files() -> None:
    """Benchmark files of one's own named in ``BENCHMARK_FILE`` (:mod:`benchmarks.custom`)."""
    import os

    if os.environ.get("BENCHMARK_FILE", "").strip():
        from benchmarks import custom

        custom.register_env()


_load_builtin()
_load_files()
