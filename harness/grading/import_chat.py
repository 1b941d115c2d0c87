"""Importers of judged chat answers: alpaca_eval, arena-hard-auto and FastChat MT-Bench outputs (and
their exporters, for the round-trip tests). Formats: :mod:`harness.grading.importers`."""
from __future__ import annotations

import json
from pathlib import Path

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import read_json, read_jsonl, write_json_gz, write_jsonl_gz

from benchmarks._fields import Seen, at_item, at_line, numbered_jsonl, record
from benchmarks.alpacaeval import AlpacaEval
from benchmarks.arenahard import ArenaHard
from benchmarks.mtbench import MTBench
from harness.grading.staging import (JUDGE_ALPACA, JUDGE_ARENA, JUDGE_MTBENCH, Staging, _need, _one, _read_any,
                                     _write_plain, check_missing)


# ---------------------------------------------------------------------------------------------
# alpaca_eval

def import_alpaca_eval(path: Path, model: str, *, source: str | None = None, force: bool = False,
                       allow_missing: int = 0) -> list[Path]:
    """``path``: alpaca_eval's results/<model> folder (or results/ with SOURCE=), or the
    ``<annotator>/annotations.json`` file itself. Up to ``allow_missing`` instructions without an
    annotation are left out (alpaca_eval scores what was annotated; pools naming the model drop them)."""
    folder, ann_file = _alpaca_files(path, source)
    rows = _read_list(ann_file, "annotations")
    st = Staging("alpacaeval", model, force)
    order = {p: i for i, p in enumerate(st.items.prompts)}
    placed: list[dict | None] = [None] * len(order)
    seen = Seen("annotation")
    for i, row in enumerate(rows):
        where = at_item(ann_file, i)
        inst, _, _ = AlpacaEval.annotation(row, where)  # the adapter's own field checks, on the user's file
        if inst not in order:
            raise HarnessError(f"{where}: instruction is not one of AlpacaEval's 805")
        seen.add(order[inst], where, f"AlpacaEval item {order[inst]} (same instruction)")
        placed[order[inst]] = dict(row, generator_2=st.model)
    missing = [i for i, r in enumerate(placed) if r is None]
    check_missing(ann_file, [f"item {i}" for i in missing], len(placed), allow_missing, "annotation")
    for i in missing:  # a placeholder the adapter skips: the item leaves every pool naming the model
        placed[i] = {"instruction": st.items.prompts[i], "output_2": "", "generator_2": st.model,
                     "preference": None, "omitted": True}
    write_json_gz(st.path(), placed)
    outputs = folder / "model_outputs.json"
    outs = _read_list(outputs, "model outputs") if outputs.exists() else \
        [{"instruction": r["instruction"], "output": r["output_2"], "generator": st.model} for r in placed]
    staged_outputs = st.root / "test" / "AlpacaEval" / st.model / "model_outputs.json.gz"
    write_json_gz(staged_outputs, [dict(record(o, at_item(outputs, i)), generator=st.model) for i, o in enumerate(outs)])
    st.extra.append(staged_outputs)  # moved with the annotations, or not at all
    return st.commit()


def _alpaca_files(path: Path, source: str | None) -> tuple[Path, Path]:
    """(the results/<model> folder, its annotations file) from what the user named: that folder,
    results/ (SOURCE= picks the model), the annotations file, or model_outputs.json."""
    if path.is_file():
        name = path.name.removesuffix(".gz")
        if name == "annotations.json":
            return path.parent.parent, path
        if name != "model_outputs.json":
            raise HarnessError(f"{path}: pass alpaca_eval's results/<model> folder (model_outputs.json and "
                               "<annotator>/annotations.json) or its annotations.json")
        path = path.parent
    folder = path
    if not (folder / "model_outputs.json").exists() and not list(folder.glob("*/annotations.json*")):
        folder = _one([p for p in path.iterdir() if p.is_dir()], "model folder", path, source)
    ann_files = sorted(folder.glob(f"{JUDGE_ALPACA}/annotations.json*")) or sorted(folder.glob("*/annotations.json*"))
    if not ann_files:
        raise HarnessError(f"{folder}: no <annotator>/annotations.json; judge the outputs first "
                           "(routing-harness judge --benchmark alpacaeval) or run alpaca_eval")
    if JUDGE_ALPACA not in str(ann_files[0]):
        print(f"import: warning: annotations by {ann_files[0].parent.name}, not {JUDGE_ALPACA}; "
              "win rates are not comparable with the cache's")
    return folder, ann_files[0]


def _read_list(path: Path, what: str) -> list:
    rows = _read_any(path)
    if not isinstance(rows, list):
        raise HarnessError(f"{path}: expected a JSON list of {what}")
    return rows


def export_alpaca_eval(model: str, out: Path) -> Path:
    src = config.cache_root() / "test" / "AlpacaEval" / model
    dest = out / "results" / model
    _write_plain(dest / "model_outputs.json", read_json(_need(src / "model_outputs.json.gz", "outputs")))
    _write_plain(dest / JUDGE_ALPACA / "annotations.json",
                 read_json(_need(src / JUDGE_ALPACA / "annotations.json.gz", "annotations")))
    return dest


# ---------------------------------------------------------------------------------------------
# arena-hard-auto

def import_arena_hard(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: arena-hard-auto's data/<bench> folder with model_answer/ and model_judgment/<judge>/."""
    answers = _one(sorted(_need(path / "model_answer", "arena-hard-auto answers").glob("*.jsonl*")),
                   "answer file", path / "model_answer", source)
    src_name = answers.name.split(".jsonl")[0]
    judge_dirs = [d for d in _need(path / "model_judgment", "arena-hard-auto judgments").iterdir() if d.is_dir()]
    judge_dir = _one(judge_dirs, "judge folder", path / "model_judgment", JUDGE_ARENA)
    if judge_dir.name != JUDGE_ARENA:
        print(f"import: warning: judged by {judge_dir.name}, not {JUDGE_ARENA}; not comparable with the cache")
    judgments = _need(next(iter(sorted(judge_dir.glob(f"{src_name}.jsonl*"))), judge_dir / f"{src_name}.jsonl"),
                      f"judgments of {src_name}")
    st = Staging("arenahard", model, force)
    # the adapter's own checks on the user's files (ids of the question table, once; types), so
    # errors name those files and lines
    ArenaHard.read_answers(answers, st.items)
    ArenaHard.read_judgments(judgments, st.items)
    ans_rows = [dict(r, model_id=st.model) for _, r in numbered_jsonl(answers)]
    jud_rows = [dict(r, model=st.model) for _, r in numbered_jsonl(judgments)]
    write_jsonl_gz(st.path(0), jud_rows)
    write_jsonl_gz(st.path(1), ans_rows)
    return st.commit()


def export_arena_hard(model: str, out: Path) -> Path:
    src = config.cache_root() / "test" / "ArenaHard"
    _write_plain(out / "model_answer" / f"{model}.jsonl",
                 read_jsonl(_need(src / "model_answer" / f"{model}.jsonl.gz", "answers")), jsonl=True)
    _write_plain(out / "model_judgment" / JUDGE_ARENA / f"{model}.jsonl",
                 read_jsonl(_need(src / "model_judgment" / f"{model}.jsonl.gz", "judgments")), jsonl=True)
    return out


# ---------------------------------------------------------------------------------------------
# FastChat mt_bench

def import_mt_bench(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: a FastChat ``model_judgment/<judge>_single.jsonl`` (or the folder holding it)."""
    file = path if path.is_file() else _one(sorted(path.glob("**/*_single.jsonl*")), "single-grading file", path)
    rows = [(lineno, record(r, at_line(file, lineno))) for lineno, r in numbered_jsonl(file)]
    models = sorted({str(r.get("model")) for _, r in rows})
    src = source or (model if model in models else (models[0] if len(models) == 1 else None))
    if src not in models:
        raise HarnessError(f"{file}: holds models {', '.join(models)}; name one with SOURCE=")
    judges = {str(r.get("judge")) for _, r in rows if str(r.get("model")) == src}
    if not all(JUDGE_MTBENCH in j for j in judges):
        print(f"import: warning: judged by {', '.join(sorted(judges))}, not {JUDGE_MTBENCH}; "
              "scores are not comparable with the cache's")
    st = Staging("mtbench", model, force)
    picked = [(lineno, r) for lineno, r in rows if str(r.get("model")) == src]
    turns, _ = MTBench.read_judgments(picked, file, st.items)  # the adapter's checks, naming the user's lines
    lacking = [q for q in st.items.ids if (q, 1) not in turns or (q, 2) not in turns]
    if lacking:
        print(f"import: warning: {len(lacking)} questions lack a turn (first: {lacking[0]}); they are dropped")
    write_jsonl_gz(st.path(), [dict(r, model=st.model) for _, r in picked])
    return st.commit()


def export_mt_bench(model: str, out: Path) -> Path:
    from benchmarks.mtbench import JUDGE_PREFIX

    src = config.cache_root() / "test" / "MT-Bench" / "judgments" / f"{JUDGE_PREFIX}{model}_single.jsonl.gz"
    rows = []
    for r in read_jsonl(_need(src, "judgments")):
        judge = r.get("judge")
        rows.append(dict(r, question_id=int(r["question_id"]), turn=int(r["turn"]), score=float(r["score"]),
                         judge=json.loads(judge.replace("'", '"')) if isinstance(judge, str) else judge))
    dest = out / "model_judgment" / f"{JUDGE_MTBENCH}_single.jsonl"
    _write_plain(dest, rows, jsonl=True)
    return dest
