"""MATH: accuracy of the routed answers, from the cached OpenCompass verdicts (`correct`).

Re-grading the raw answers with math-verify is the business of the re-grading tools.
"""
from benchmarks import register_benchmark
from benchmarks._opencompass import ReasoningBenchmark


@register_benchmark("math")
class Math(ReasoningBenchmark):
    name = "math"
    title = "MATH"
    folder = "MATH"
    version = 2
