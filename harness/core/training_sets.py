"""The `paper` protocol's training data: the cache's train/ sets with their eval_ids as validation.

Each set has ``instructions.jsonl.gz`` (prompt_id, prompt), ``eval_ids.json.gz`` (validation ids)
and per candidate a responses file and a score file matched to the instructions by line order.
Where a set or a candidate's file is absent, the set is left out and reported, and the run is
marked partial.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.core import config, data
from harness.core.errors import HarnessError
from harness.core.io import field as get_field
from harness.core.io import read_json, read_jsonl
from routers.base import RoutingData


@dataclass(frozen=True)
class TrainingSet:
    name: str  # short name
    folder: str  # under compressed_data/train/
    score_dir: str | None  # folder of per-model score files; None: the score is in responses/
    score_fields: tuple[str, ...] = ("score", "reward")


TRAINING_SETS = [
    TrainingSet("ultrafeedback", "UltraFeedback", "Skywork-Reward-Gemma-2-27B-v0.2"),
    TrainingSet("openmathinstruct2", "OpenMathInstruct2_filtered2", "gt2-Skywork-Reward-Gemma-2-27B-v0.2"),
    TrainingSet("selfossinstruct", "SelfOSSInstructSC2_filtered2", None),
]


@dataclass
class TrainingData:
    train: RoutingData
    valid: RoutingData
    used: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # set -> what is absent

    @property
    def partial(self) -> bool:
        return bool(self.missing)


def _files(root: Path, ts: TrainingSet, model: str) -> tuple[Path, Path]:
    responses = root / ts.folder / "responses" / f"{model}.jsonl.gz"
    scores = responses if ts.score_dir is None else root / ts.folder / ts.score_dir / f"{model}.jsonl.gz"
    return responses, scores


def _score(row: dict, ts: TrainingSet, path: Path, item: str) -> float:
    for name in ts.score_fields:
        if name in row and row[name] is not None:
            return float(row[name])
    raise HarnessError(f"{path}: item {item}: none of the score fields {', '.join(ts.score_fields)}")


def _read_set(root: Path, ts: TrainingSet, models: list[str]):
    instr_path = root / ts.folder / "instructions.jsonl.gz"
    ids_path = root / ts.folder / "eval_ids.json.gz"
    needed = [instr_path, ids_path] + [p for m in models for p in _files(root, ts, m)]
    absent = [p for p in needed if not p.exists()]
    if absent:
        return None, f"{len(absent)} file(s) absent, e.g. {absent[0].relative_to(root.parent)}"
    data.verify(needed)
    rows = read_jsonl(instr_path)
    ids = [str(get_field(r, "prompt_id", instr_path, i)) for i, r in enumerate(rows)]
    prompts = [get_field(r, "prompt", instr_path, ids[i]) for i, r in enumerate(rows)]
    responses = np.empty((len(rows), len(models)), dtype=object)
    scores = np.zeros((len(rows), len(models)))
    for j, model in enumerate(models):
        resp_path, score_path = _files(root, ts, model)
        resp_rows = read_jsonl(resp_path)
        score_rows = resp_rows if score_path == resp_path else read_jsonl(score_path)
        for path, got in ((resp_path, resp_rows), (score_path, score_rows)):
            if len(got) != len(rows):
                raise HarnessError(f"{path}: {len(got)} records, instructions.jsonl has {len(rows)} "
                                   "(records are matched by line order)")
        for i in range(len(rows)):
            responses[i, j] = str(resp_rows[i].get("response") or "")
            scores[i, j] = _score(score_rows[i], ts, score_path, ids[i])
    valid_ids = set(map(str, read_json(ids_path)))
    return (ids, prompts, responses, scores, valid_ids), None


def load(models: list[str]) -> TrainingData:
    """Pooled training and validation items of every complete training set, for the pool."""
    root = config.cache_root() / "train"
    parts, used, missing = [], [], {}
    for ts in TRAINING_SETS:
        loaded, why = _read_set(root, ts, models)
        if loaded is None:
            missing[ts.name] = why
            print(f"paper protocol: training set {ts.name} left out: {why}", file=sys.stderr)
            continue
        used.append(ts.name)
        parts.append((ts.name, *loaded))
    if not parts:
        raise HarnessError(f"no complete training set under {root} for the pool {','.join(models)}")
    return TrainingData(train=_pool(parts, models, validation=False), valid=_pool(parts, models, validation=True),
                        used=used, missing=missing)


def _pool(parts, models: list[str], validation: bool) -> RoutingData:
    uids, sets, prompts, responses, scores = [], [], [], [], []
    for name, ids, set_prompts, set_responses, set_scores, valid_ids in parts:
        for i, item in enumerate(ids):
            if (item in valid_ids) != validation:
                continue
            if any(not r for r in set_responses[i]):  # the cards: items with an empty response are left out
                continue
            uids.append(f"{name}/{item}")
            sets.append(name)
            prompts.append(set_prompts[i])
            responses.append(list(set_responses[i]))
            scores.append(set_scores[i])
    return RoutingData(uids=uids, benchmarks=sets, prompts=prompts, models=list(models), responses=responses,
                       scores=np.asarray(scores, dtype=np.float64).reshape(len(uids), len(models)))
