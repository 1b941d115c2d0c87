"""Reading a benchmark file of one's own into one long table: a row per (item, candidate).

Layouts, recognised by their columns (or keys):

- **long** (this harness's own): ``prompt``, ``model``, ``score``; optional ``id``, ``answer``,
  ``cost``, ``benchmark`` (or ``category``), ``split`` (train / val / test) and ``metric``. Aliases of
  each column are in :data:`ALIASES`.
- **RouterBench** (withmartian/routerbench, its wide per-prompt table): ``sample_id``, ``prompt``,
  ``eval_name``, one score column per model named by the model, ``<model>|model_response`` and
  ``<model>|total_cost`` (its convertor stores prompts and responses as the ``str`` of a list of
  turns; they are unwrapped).
- **EmbedLLM** (its train/val/test.csv correctness rows): ``prompt_id``, ``model_id``, ``label``,
  with ``prompt``, ``model_name`` and ``category`` where present.
- **RouterEval** (its router_dataset ``.npz``, read as its baselines read it): ``train_prompt``,
  ``train_score`` (items x candidates), likewise ``val_``/``test_``; candidate names from ``model``
  or ``models`` when present. The nested JSON variant ``{"model", "prompt": {...}, "data": {...}}``
  is read too. ``.npz`` files are loaded with ``allow_pickle`` (their prompts are object arrays), as
  RouterEval's own scripts do: load only files you trust.

CSV (``.csv``, ``.tsv``, gzipped too), JSON Lines (``.jsonl``), JSON and Parquet are read with pandas.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import HarnessError

# canonical column -> accepted names, first match wins
ALIASES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "query", "question", "instruction"),
    "model": ("model", "candidate", "model_name", "llm"),
    "score": ("score", "correct", "correctness", "label", "performance", "reward"),
    "id": ("id", "item_id", "prompt_id", "sample_id", "question_id"),
    "answer": ("answer", "response", "model_response", "output", "completion"),
    "cost": ("cost", "total_cost", "price"),
    "benchmark": ("benchmark", "category", "eval_name", "dataset", "task"),
    "split": ("split",),
    "metric": ("metric",),
}
SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val", "test": "test"}


def read_long(path: Path):
    """The file as a long DataFrame with the canonical columns (``prompt``, ``model``, ``score``,
    ``id`` and any optional ones) and the name of its layout."""
    import pandas as pd

    raw = _read_any(path)
    if isinstance(raw, dict):
        return _routereval(raw, path), "routereval"
    columns = set(raw.columns)
    if {"prompt_id", "model_id", "label"} <= columns:
        return _embedllm(raw, path), "embedllm"
    if any(str(c).endswith(("|model_response", "|total_cost")) for c in raw.columns) or "oracle_model_to_route_to" in columns:
        return _routerbench(raw, path), "routerbench"
    frame = pd.DataFrame({canon: raw[name] for canon, name in _resolve(raw.columns).items()})
    missing = [c for c in ("prompt", "model", "score") if c not in frame]
    if missing:
        raise HarnessError(f"{path}: no column for {', '.join(missing)} (accepted: "
                           + "; ".join(f"{c}: {', '.join(ALIASES[c])}" for c in missing)
                           + "), and not a RouterBench, EmbedLLM or RouterEval layout")
    return frame, "long"


def _read_any(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise HarnessError(f"BENCHMARK_FILE={path}: file not found")
    name = path.name.lower().removesuffix(".gz")
    try:
        if name.endswith(".npz"):
            with np.load(path, allow_pickle=True) as npz:
                return {key: npz[key] for key in npz.files}
        if name.endswith(".csv"):
            return pd.read_csv(path, keep_default_na=False, na_values=[""])
        if name.endswith(".tsv"):
            return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
        if name.endswith(".jsonl"):
            return pd.read_json(path, lines=True, dtype=False)
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith(".json"):
            data = json.loads(path.read_bytes())
            return data if isinstance(data, dict) else pd.DataFrame(data)
    except HarnessError:
        raise
    except Exception as exc:  # a malformed file: one line naming it
        raise HarnessError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    raise HarnessError(f"{path}: unknown file type (use .csv, .tsv, .jsonl, .json, .parquet or RouterEval's .npz)")


def _resolve(columns) -> dict[str, str]:
    names = [str(c) for c in columns]
    found = {}
    for canon, aliases in ALIASES.items():
        for alias in aliases:
            if alias in names and alias not in found.values():
                found[canon] = alias
                break
    return found


def unwrap(text: Any) -> str:
    """RouterBench keeps prompts and responses as the ``str`` of a list of turns: the turns joined."""
    if isinstance(text, str) and text.startswith("[") and text.endswith("]"):
        try:
            turns = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
        if isinstance(turns, list) and all(isinstance(t, str) for t in turns):
            return "\n\n".join(turns)
    return "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)


def _routerbench(raw, path: Path):
    import pandas as pd

    names = [str(c) for c in raw.columns]
    models = [m for m in dict.fromkeys(c.split("|")[0] for c in names if "|" in c) if m in names]
    if not models or "prompt" not in names:
        raise HarnessError(f"{path}: RouterBench layout without a prompt column or a score column per model "
                           "(<model>, <model>|model_response, <model>|total_cost)")
    ids = raw["sample_id"].astype(str) if "sample_id" in names else pd.Series(range(len(raw))).astype(str)
    frames = []
    for model in models:
        part = {"id": ids, "prompt": raw["prompt"].map(unwrap), "model": model, "score": raw[model]}
        if f"{model}|model_response" in names:
            part["answer"] = raw[f"{model}|model_response"].map(unwrap)
        if f"{model}|total_cost" in names:
            part["cost"] = raw[f"{model}|total_cost"]
        if "eval_name" in names:
            part["benchmark"] = raw["eval_name"]
        frames.append(pd.DataFrame(part))
    return pd.concat(frames, ignore_index=True)


def _embedllm(raw, path: Path):
    import pandas as pd

    if "prompt" not in raw.columns:
        raise HarnessError(f"{path}: EmbedLLM layout without its 'prompt' column (routers need the prompt text)")
    frame = pd.DataFrame({"id": raw["prompt_id"].astype(str), "prompt": raw["prompt"],
                          "model": (raw["model_name"] if "model_name" in raw.columns else raw["model_id"]).astype(str),
                          "score": raw["label"]})
    if "category" in raw.columns:
        frame["benchmark"] = raw["category"]
    for extra in ("split", "metric"):
        if extra in raw.columns:
            frame[extra] = raw[extra]
    return frame


def _routereval(raw: dict, path: Path):
    """RouterEval's router dataset: ``<split>_prompt`` and ``<split>_score`` (items x candidates)."""
    import pandas as pd

    flat = dict(raw)
    for group in ("prompt", "data"):  # the nested JSON variant
        if isinstance(flat.get(group), dict):
            flat.update(flat.pop(group))
    names = flat.get("model", flat.get("models"))
    frames = []
    for split in ("train", "val", "test"):
        if f"{split}_score" not in flat:
            continue
        scores = np.asarray(flat[f"{split}_score"], dtype=np.float64)
        if f"{split}_prompt" not in flat:
            raise HarnessError(f"{path}: '{split}_score' without '{split}_prompt' (routers need the prompt text; "
                               "RouterEval's embedding-only files cannot be routed here)")
        prompts = [str(p) for p in np.asarray(flat[f"{split}_prompt"], dtype=object).tolist()]
        if scores.ndim != 2 or scores.shape[0] != len(prompts):
            raise HarnessError(f"{path}: '{split}_score' has shape {scores.shape}, expected ({len(prompts)}, candidates)")
        models = [str(m) for m in (list(names) if names is not None else [f"model_{j}" for j in range(scores.shape[1])])]
        if len(models) != scores.shape[1]:
            raise HarnessError(f"{path}: {len(models)} model names for {scores.shape[1]} score columns")
        for j, model in enumerate(models):
            frames.append(pd.DataFrame({"id": [f"{split}-{i}" for i in range(len(prompts))], "prompt": prompts,
                                        "model": model, "score": scores[:, j], "split": split}))
    if not frames:
        raise HarnessError(f"{path}: no '<split>_score' array (RouterEval layout: train_prompt, train_score, ...)")
    return pd.concat(frames, ignore_index=True)
