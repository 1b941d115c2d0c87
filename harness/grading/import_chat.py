"""Importers of judged chat answers: alpaca_eval, arena-hard-auto and FastChat MT-Bench outputs (and
their exporters, for the round-trip tests). Formats: :mod:`harness.grading.importers`."""
from __future__ import annotations

import json
from pathlib import Path

from harness.core import config
from harness.core.errors import HarnessError
from harness.core.io import read_json, read_jsonl, write_json_gz, write_jsonl_gz

from harness.grading.staging import JUDGE_ALPACA, JUDGE_ARENA, JUDGE_MTBENCH, Staging, _need, _one, _read_any, _write_plain


# ---------------------------------------------------------------------------------------------
# alpaca_eval

def import_alpaca_eval(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """``path``: alpaca_eval's results/<model> folder (or results/ with SOURCE=)."""
    folder = path
    if not (folder / "model_outputs.json").exists() and not list(folder.glob("*/annotations.json*")):
        folder = _one([p for p in path.iterdir() if p.is_dir()], "model folder", path, source)
    ann_files = sorted(folder.glob(f"{JUDGE_ALPACA}/annotations.json*")) or sorted(folder.glob("*/annotations.json*"))
    if not ann_files:
        raise HarnessError(f"{folder}: no <annotator>/annotations.json; judge the outputs first "
                           "(harness.grading.judge.judge_alpacaeval) or run alpaca_eval")
    if JUDGE_ALPACA not in str(ann_files[0]):
        print(f"import: warning: annotations by {ann_files[0].parent.name}, not {JUDGE_ALPACA}; "
              "win rates are not comparable with the cache's")
    rows = _read_any(ann_files[0])
    st = Staging("alpacaeval", model, force)
    order = {p: i for i, p in enumerate(st.items.prompts)}
    placed: list[dict | None] = [None] * len(order)
    for i, row in enumerate(rows):
        inst = row.get("instruction")
        if inst not in order:
            raise HarnessError(f"{ann_files[0]}: item {i}: instruction is not one of AlpacaEval's 805")
        placed[order[inst]] = dict(row, generator_2=st.model)
    missing = [i for i, r in enumerate(placed) if r is None]
    if missing:
        raise HarnessError(f"{ann_files[0]}: {len(missing)} of 805 instructions have no annotation "
                           f"(first: item {missing[0]}); the LC win rate needs all of them")
    write_json_gz(st.path(), placed)
    outputs = folder / "model_outputs.json"
    outs = _read_any(outputs) if outputs.exists() else \
        [{"instruction": r["instruction"], "output": r.get("output_2", ""), "generator": st.model} for r in placed]
    write_json_gz(st.root / "test" / "AlpacaEval" / st.model / "model_outputs.json.gz",
                  [dict(o, generator=st.model) for o in outs])
    written = st.commit()
    real = config.cache_root() / "test" / "AlpacaEval" / st.model / "model_outputs.json.gz"
    write_json_gz(real, [dict(o, generator=st.model) for o in outs])
    return written + [real]


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
    known = set(st.items.ids)
    ans_rows = [dict(r, model_id=st.model) for r in read_jsonl(answers)]
    jud_rows = [dict(r, model=st.model) for r in read_jsonl(judgments)]
    for rows, f in ((ans_rows, answers), (jud_rows, judgments)):
        bad = [str(r.get("question_id")) for r in rows if str(r.get("question_id")) not in known]
        if bad:
            raise HarnessError(f"{f}: item {bad[0]}: not an Arena-Hard v0.1 question ({len(bad)} such)")
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
    rows = read_jsonl(file)
    models = sorted({str(r.get("model")) for r in rows})
    src = source or (model if model in models else (models[0] if len(models) == 1 else None))
    if src not in models:
        raise HarnessError(f"{file}: holds models {', '.join(models)}; name one with SOURCE=")
    judges = {str(r.get("judge")) for r in rows if r.get("model") == src}
    if not all(JUDGE_MTBENCH in j for j in judges):
        print(f"import: warning: judged by {', '.join(sorted(judges))}, not {JUDGE_MTBENCH}; "
              "scores are not comparable with the cache's")
    st = Staging("mtbench", model, force)
    picked = [dict(r, model=st.model) for r in rows if r.get("model") == src]
    turns = {(str(r.get("question_id")), int(r.get("turn", 0))) for r in picked}
    lacking = [q for q in st.items.ids if (q, 1) not in turns or (q, 2) not in turns]
    if lacking:
        print(f"import: warning: {len(lacking)} questions lack a turn (first: {lacking[0]}); they are dropped")
    write_jsonl_gz(st.path(), picked)
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
