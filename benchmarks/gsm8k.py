"""GSM8K: accuracy of the routed answers, from the cached OpenCompass verdicts (`correct`).

Re-grading the raw answers with math-verify is the business of the re-grading tools.
"""
from benchmarks import register_benchmark
from benchmarks._opencompass import ReasoningBenchmark


@register_benchmark("gsm8k")
class GSM8K(ReasoningBenchmark):
    name = "gsm8k"
    title = "GSM8K"
    folder = "GSM8k"
    version = 2
