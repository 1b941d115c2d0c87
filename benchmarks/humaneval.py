"""HumanEval: pass@1 of the routed programs, from the cached OpenCompass verdicts (`is_correct`)."""
from benchmarks import register_benchmark
from benchmarks._opencompass import CodeBenchmark


@register_benchmark("humaneval")
class HumanEval(CodeBenchmark):
    name = "humaneval"
    title = "HumanEval"
    folder = "HumanEval"
    stored_metric = "humaneval_pass@1"
    program_field = "completion"
    version = 2

    def item_id(self, position: str, prediction: dict, result: dict | None) -> str:
        # HumanEval's own id ("HumanEval/0") is in both files
        return str(prediction.get("gold") or (result or {}).get("task_id") or position)
