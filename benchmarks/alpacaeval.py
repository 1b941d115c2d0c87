"""AlpacaEval 2.0: length-controlled win rate against gpt4_1106_preview.

The routed mix's annotations (each item's row from the chosen candidate's annotation file) go
through alpaca_eval's own ``get_length_controlled_winrate``. That function downloads its
calibration file ``df_gamed.csv`` from the Hugging Face hub on every call; we resolve it once
(HF cache, then a quick download, then the offline stand-in) and hand alpaca_eval that path.
"""
from __future__ import annotations

import contextlib
import logging
import socket
import sys
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd

from benchmarks import register_benchmark
from benchmarks._fields import at_item, at_line, number, numbered_jsonl, text
from benchmarks.base import Benchmark, BenchmarkData, ItemTable, ModelRecords
from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import read_json

ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
GAMED_REPO = "tatsu-lab/alpaca_eval"


def _hub_reachable(timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


@lru_cache(maxsize=1)
def calibration_file() -> tuple[str, str]:
    """(path, label) of the df_gamed.csv to use; label says which one, for the output."""
    from huggingface_hub import hf_hub_download

    kwargs = dict(repo_id=GAMED_REPO, filename="df_gamed.csv", repo_type="dataset")
    with contextlib.suppress(Exception):
        return hf_hub_download(local_files_only=True, **kwargs), "official (Hugging Face cache)"
    if _hub_reachable():
        with contextlib.suppress(Exception):
            return hf_hub_download(**kwargs), "official (downloaded)"
    offline = config.alpaca_gamed_offline()
    if offline is None or not offline.exists():
        raise HarnessError(
            "alpaca_eval's calibration file df_gamed.csv cannot be downloaded and no offline "
            "stand-in was found; set ALPACA_EVAL_GAMED_OFFLINE=<path to df_gamed_offline.csv.gz>"
        )
    _notice_once(f"alpacaeval: official df_gamed.csv unreachable; using the offline stand-in {offline} "
                 "(said once per data directory; run files record it)")
    return str(offline), f"offline stand-in ({offline.name})"


def _notice_once(text: str) -> None:
    """Print ``text`` unless this data directory's cache already said it (a marker file there)."""
    from harness.core.io import atomic_write_text

    marker = config.parsed_cache_dir() / "notices" / "alpacaeval-calibration.txt"
    if marker.is_file() and marker.read_text(encoding="utf-8") == text:
        return
    print(text, file=sys.stderr)
    with contextlib.suppress(OSError):  # a read-only cache: the notice is simply said again
        atomic_write_text(marker, text)


def length_controlled(annotations: pd.DataFrame) -> dict[str, float]:
    """alpaca_eval's LC win rate on annotations in instruction order (row index = position)."""
    from alpaca_eval.metrics import get_length_controlled_winrate
    import alpaca_eval.metrics.glm_winrate as glm

    path, _ = calibration_file()
    real = glm.hf_hub_download

    def resolve(**kwargs):
        return path if kwargs.get("filename") == "df_gamed.csv" else real(**kwargs)

    with mock.patch.object(glm, "hf_hub_download", resolve), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
        # save_weights_dir=None: alpaca_eval must not write into site-packages
        return get_length_controlled_winrate(annotations, save_weights_dir=None,
                                             is_warn_extreme_changes=False)


@register_benchmark("alpacaeval")
class AlpacaEval(Benchmark):
    name = "alpacaeval"
    title = "AlpacaEval-2"
    metric = "lc_win_rate"
    folder = "AlpacaEval"
    version = 2

    def _dir(self, root: Path) -> Path:
        return root / "test" / self.folder

    def models(self, root: Path) -> list[str]:
        return sorted(p.parent.parent.name for p in self._dir(root).glob(f"*/{ANNOTATOR}/annotations.json.gz"))

    def item_files(self, root: Path) -> list[Path]:
        return [self._dir(root) / "instructions.jsonl.gz"]

    def model_files(self, root: Path, model: str) -> list[Path]:
        return [self._dir(root) / model / ANNOTATOR / "annotations.json.gz"]

    def read_items(self, root: Path) -> ItemTable:
        path = self.item_files(root)[0]
        prompts, datasets, references = [], [], []
        for i, (lineno, row) in enumerate(numbered_jsonl(path)):
            where = at_line(path, lineno, i)  # AlpacaEval's own id is the row index
            prompts.append(text(row, "instruction", where))
            datasets.append(text(row, "dataset", where, default=""))
            references.append(text(row, "reference", where))
        return ItemTable(ids=[str(i) for i in range(len(prompts))], prompts=prompts,
                         meta={"dataset": datasets, "reference": references})

    @staticmethod
    def annotation(row: Any, where: str) -> tuple[str, str, float]:
        """(instruction, the candidate's output, preference) of one alpaca_eval annotation; a null
        preference (the annotator failed) reads as NaN."""
        return (text(row, "instruction", where), text(row, "output_2", where),
                number(row, "preference", where, nullable=True))

    def read_model(self, root: Path, model: str, items: ItemTable) -> ModelRecords:
        path = self.model_files(root, model)[0]
        rows = read_json(path)
        if not isinstance(rows, list):
            raise HarnessError(f"{path}: expected a JSON list of annotations")
        ids, answers, prefs = [], [], []
        for i, row in enumerate(rows):
            instruction, answer, pref = self.annotation(row, at_item(path, i))
            if i >= len(items.ids) or instruction != items.prompts[i]:
                raise HarnessError(f"{path}: item {i}: instruction differs from instructions.jsonl "
                                   "(mismatched item ids between candidates)")
            if row.get("omitted") is True:  # unannotated, left out by an import (--allow-missing)
                continue
            ids.append(str(i))
            answers.append(answer)
            prefs.append(pref)
        prefs_arr = np.asarray(prefs, dtype=np.float64)
        return ModelRecords(model=model, source=str(path), ids=ids, answers=answers,
                            native={"preference": prefs_arr}, gt=np.nan_to_num(prefs_arr, nan=1.5))

    def score(self, data: BenchmarkData, choice: np.ndarray, *, seed: int = 0,
              detail: bool = True) -> dict[str, Any]:
        answers = [data.answers[data.models[c]][i] for i, c in enumerate(choice)]
        annotations = pd.DataFrame(
            {
                "instruction": data.prompts,
                "output_1": data.meta["reference"],
                "generator_1": "gpt4_1106_preview",
                "output_2": answers,
                "generator_2": "routed",
                "annotator": ANNOTATOR,
                "preference": data.routed("preference", choice),
            },
            index=pd.Index(data.positions, name=None),  # LC looks difficulty up by row position
        )
        metrics = length_controlled(annotations)
        return {
            "score": float(metrics["length_controlled_winrate"]),
            "lc_standard_error": float(metrics["lc_standard_error"]),
            "win_rate": float(metrics["win_rate"]),
            "standard_error": float(metrics["standard_error"]),
            "n_wins": int(metrics["n_wins"]),
            "n_draws": int(metrics["n_draws"]),
            "calibration": calibration_file()[1],
        }
