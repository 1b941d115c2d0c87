"""What every importer shares: model-name checks, reading a tool's files, and :class:`Staging`, which
writes an import into a staging folder, reads it back through the benchmark's own adapter against
the item table, and only then moves it into the cache. Imports: core, benchmarks."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_bytes, read_json, read_jsonl

JUDGE_ALPACA = "weighted_alpaca_eval_gpt4_turbo"
JUDGE_ARENA = "gpt-4-1106-preview"
JUDGE_MTBENCH = "gpt-4-0125-preview"
MATH_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}.\n"
OPENCOMPASS_DATASETS = {"gsm8k": "gsm8k", "math": "math", "openai_humaneval": "humaneval",
                        "humaneval": "humaneval", "sanitized_mbpp": "mbpp", "mbpp": "mbpp"}
EXPORT_DATASET = {"gsm8k": "gsm8k", "math": "math", "humaneval": "openai_humaneval", "mbpp": "sanitized_mbpp"}
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$")


# ---------------------------------------------------------------------------------------------
# small helpers

def _write_plain(path: Path, obj: Any, jsonl: bool = False) -> None:
    from harness.core.io import atomic_write_text

    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in obj) if jsonl \
        else json.dumps(obj, ensure_ascii=False, indent=1)
    atomic_write_text(path, text)


def _read_any(path: Path) -> Any:
    """JSON or JSONL (plain or .gz), by content."""
    name = path.name.removesuffix(".gz")
    return read_jsonl(path) if name.endswith(".jsonl") else read_json(path)


def check_model_name(model: str) -> str:
    if not model or not _MODEL_NAME.match(model):
        raise HarnessError(f"MODEL={model!r}: use letters, digits and . _ + - only (it becomes a file "
                           "name and a POOL entry)")
    return model


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise HarnessError(f"{path}: not found ({what})")
    return path


def _one(paths: list[Path], what: str, where: Path, prefer: str | None = None) -> Path:
    if prefer is not None:
        match = [p for p in paths if p.name.split(".")[0] == prefer or p.name == prefer]
        if match:
            return match[0]
    if len(paths) != 1:
        names = ", ".join(sorted(p.name for p in paths)) or "none"
        raise HarnessError(f"{where}: expected one {what}, found {names}; name it with SOURCE=")
    return paths[0]


def _items(benchmark: str):
    from benchmarks import get_benchmark
    from harness.core import data, store

    data.ensure()
    adapter = get_benchmark(benchmark)
    return adapter, store.read_items(adapter)


def _reference_details(benchmark: str) -> tuple[dict, dict | None]:
    """The table model's OpenCompass files (results, predictions): prompts, references, gold."""
    adapter, _ = _items(benchmark)
    root = config.cache_root()
    files = adapter.model_files(root, adapter._table_model(root))
    results = read_json(files[-1])
    preds = read_json(files[0]) if len(files) == 2 else None
    return results, preds


# ---------------------------------------------------------------------------------------------
# staging: write, validate through the adapter, then move into the cache

_OPEN: list[Path] = []  # staging folders of the import in progress, removed whatever happens


class Staging:
    def __init__(self, benchmark: str, model: str, force: bool):
        self.adapter, self.items = _items(benchmark)
        self.benchmark, self.model, self.force = benchmark, check_model_name(model), force
        self.root = Path(tempfile.mkdtemp(prefix="rh-import-"))
        _OPEN.append(self.root)

    def path(self, index: int = -1) -> Path:
        return self.adapter.model_files(self.root, self.model)[index]

    def commit(self) -> list[Path]:
        try:
            real = config.cache_root()
            if self.model in self.adapter.models(real) and not self.force:
                raise HarnessError(f"model '{self.model}' already exists for {self.benchmark} in {real}; "
                                   "choose another MODEL or pass --force")
            records = self.adapter.read_model(self.root, self.model, self.items)  # validates
            if not records.ids:
                raise HarnessError(f"{self.benchmark}: the import holds no item of the benchmark")
            written = []
            for src in self.adapter.model_files(self.root, self.model):
                dst = real / src.relative_to(self.root)
                atomic_write_bytes(dst, src.read_bytes())
                written.append(dst)
            from harness.core import store

            store.clear_memo()
            return written
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
