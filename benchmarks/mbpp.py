"""MBPP (sanitized, 257 items): pass@1 of the routed programs, from the cached verdicts.

The cache keys MBPP items by position only; that position is the item id. The cached programs
include the test asserts, so re-grading can run them as they are.
"""
from benchmarks import register_benchmark
from benchmarks._opencompass import CodeBenchmark


@register_benchmark("mbpp")
class MBPP(CodeBenchmark):
    name = "mbpp"
    title = "MBPP"
    folder = "MBPP"
    stored_metric = "score"
    program_field = "programs"
    version = 2
