"""Benchmarks of your own, without editing the package: a table of prompt x candidate -> score.

    BENCHMARK_FILE=mybench=scores.csv make eval ROUTER=knn        # or: routing-harness eval --benchmark-file ...

The file (layouts: :mod:`benchmarks.custom_formats`) becomes the benchmark ``mybench`` (without
``name=``, the file's stem). With a benchmark/category column, each label becomes a benchmark
``mybench.<label>`` (so ``within`` and ``lobo`` have benchmarks to work with). With a ``split``
column, the ``test`` rows are the benchmark's items and the ``train``/``val`` rows are the training
set of ``PROTOCOL=paper``; without one every row is a test item. Items that not every candidate
scored are dropped and counted, as for the cache's benchmarks.

mu_o is the mean of the chosen candidates' scores (``metric`` ``mean``), or, when the file names a
metric in a ``metric`` column, ``accuracy``/``pass@1``/``percent`` (the mean x 100). Scores are the
ground truth of the oracle and of training. A ``cost`` column adds the routed mean cost to the run
file; an ``answer`` column gives the candidates' answers (routers that read responses need it).

The parsed data is keyed by the file's sha256 (the adapter's ``version``), so an edited file is
re-read; run files record the file's path and sha256 (``provenance.benchmark_files``).
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import BENCHMARKS, register_benchmark
from benchmarks.base import Benchmark, BenchmarkData, ItemTable, ModelRecords
from benchmarks.custom_formats import SPLITS, read_long
from harness.core.io import sha256_file
from harness.core.errors import HarnessError

ENV = "BENCHMARK_FILE"
METRICS = {"mean": 1.0, "accuracy": 100.0, "pass@1": 100.0, "percent": 100.0}  # mu_o = mean score x factor


@dataclass
class Part:
    """One benchmark of a file: its rows of one label (all rows when the file has no label)."""

    label: str | None
    ids: list[str]  # items in file order, every split
    prompts: list[str]
    split: list[str]
    scores: dict[str, np.ndarray]  # model -> per item (NaN: not scored)
    answers: dict[str, list[str]]
    costs: dict[str, np.ndarray] | None


@dataclass
class Table:
    name: str
    path: Path
    sha256: str
    layout: str
    metric: str
    models: list[str]
    parts: dict[str, Part] = field(default_factory=dict)  # benchmark name -> part


_TABLES: dict[str, Table] = {}  # benchmark name -> its file's table


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def parse_spec(spec: str) -> tuple[str, Path]:
    """``name=path`` or ``path`` (the name is then the file's stem)."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = "", spec
    path_obj = Path(path.strip()).expanduser()
    stem = path_obj.name.split(".")[0]
    name = name.strip() or _slug(stem)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise HarnessError(f"BENCHMARK_FILE={spec}: benchmark name '{name}' (letters, digits, _ . - only)")
    return name, path_obj


def load_table(name: str, path: Path) -> Table:
    """Read and check a file: one row per (item, candidate), pivoted per benchmark."""
    frame, layout = read_long(path)
    frame = frame.copy()
    metric = _metric(frame, path)
    frame["score"] = _numbers(frame["score"], path, "score")
    if "cost" in frame:
        frame["cost"] = _numbers(frame["cost"], path, "cost")
    frame["prompt"] = frame["prompt"].map(lambda p: "" if p is None else str(p))
    frame["model"] = frame["model"].astype(str)
    label = frame["benchmark"].astype(str) if "benchmark" in frame else None
    split = frame["split"].astype(str).str.strip().str.lower() if "split" in frame else None
    if split is not None and not split.isin(list(SPLITS)).all():
        bad = sorted(set(split) - set(SPLITS))[0]
        raise HarnessError(f"{path}: split '{bad}' (expected train, val or test)")
    frame["split"] = split.map(SPLITS) if split is not None else "test"
    if "id" not in frame:  # items are their prompts (per label)
        key = frame["prompt"] if label is None else label + "\x1f" + frame["prompt"]
        frame["id"] = key.map({k: str(i) for i, k in enumerate(dict.fromkeys(key))})
    frame["id"] = frame["id"].astype(str)
    models = list(dict.fromkeys(frame["model"]))
    if len(models) < 2:
        raise HarnessError(f"{path}: {len(models)} candidate(s); routing needs at least two")
    table = Table(name=name, path=path, sha256=sha256_file(path), layout=layout, metric=metric, models=models)
    groups = [(None, frame)] if label is None else list(frame.groupby(label, sort=False))
    for value, rows in groups:
        bench = name if value is None else f"{name}.{_slug(value)}"
        if bench in table.parts:
            raise HarnessError(f"{path}: labels '{value}' and another both make benchmark '{bench}'")
        table.parts[bench] = _part(None if value is None else str(value), rows, models, path)
    if not any("test" in p.split for p in table.parts.values()):
        raise HarnessError(f"{path}: no test rows (split column values: train, val, test)")
    return table


def _metric(frame, path: Path) -> str:
    if "metric" not in frame:
        return "mean"
    names = sorted(set(frame["metric"].astype(str)))
    if len(names) != 1 or names[0] not in METRICS:
        raise HarnessError(f"{path}: metric column {names}: one value of {', '.join(METRICS)} expected")
    return names[0]


def _numbers(column, path: Path, what: str) -> np.ndarray:
    import pandas as pd

    verdicts = {"true": 1.0, "false": 0.0}  # JSON/CSV booleans (OpenCompass-style verdicts)
    values = pd.to_numeric(column.map(lambda v: float(v) if isinstance(v, bool) else
                                      verdicts.get(v.strip().lower(), v) if isinstance(v, str) else v),
                           errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values) & column.notna().to_numpy() & (column.astype(str) != "").to_numpy())
    if len(bad):
        raise HarnessError(f"{path}: row {int(bad[0]) + 1}: {what} {column.iloc[bad[0]]!r} is not a number")
    return values


def _part(label: str | None, rows, models: list[str], path: Path) -> Part:
    """Pivot one benchmark's rows: duplicated (item, candidate) rows are averaged (EmbedLLM lists some
    prompts under several task variants), and reported."""
    first = rows.drop_duplicates("id")
    ids = first["id"].tolist()
    per_item = rows.groupby("id", sort=False)["split"].nunique()
    if (per_item > 1).any():
        raise HarnessError(f"{path}: item {per_item.index[per_item > 1][0]} is in two splits")
    dup = int(rows.duplicated(["id", "model"]).sum())
    if dup:
        print(f"{path}: {dup} duplicated (item, candidate) row(s) averaged", file=sys.stderr)
    score = rows.pivot_table(index="id", columns="model", values="score", aggfunc="mean", dropna=False)
    score = score.reindex(index=ids, columns=models)
    answers = {m: [""] * len(ids) for m in models}
    if "answer" in rows:
        last = rows.drop_duplicates(["id", "model"], keep="first").set_index(["id", "model"])["answer"]
        position = {item: i for i, item in enumerate(ids)}
        for (item, model), text in last.items():
            answers[model][position[item]] = "" if text is None or text != text else str(text)
    costs = None
    if "cost" in rows:
        cost = rows.pivot_table(index="id", columns="model", values="cost", aggfunc="mean", dropna=False)
        cost = cost.reindex(index=ids, columns=models)
        costs = {m: cost[m].to_numpy(dtype=np.float64) for m in models}
    return Part(label=label, ids=ids, prompts=first["prompt"].tolist(), split=first["split"].tolist(),
                scores={m: score[m].to_numpy(dtype=np.float64) for m in models}, answers=answers, costs=costs)


class FileBenchmark(Benchmark):
    """A benchmark read from a file of one's own (one label of it); subclassed per registration."""

    table: Table
    bench: str = ""

    @property
    def version(self) -> str:  # keys the store's parsed cache: the file's content and the label
        return f"file-{self.table.sha256[:20]}-{self.bench}"

    def _part(self) -> Part:
        return self.table.parts[self.bench]

    def models(self, root: Path) -> list[str]:
        return list(self.table.models)

    def item_files(self, root: Path) -> list[Path]:
        return []  # not under the cache root: the version carries the file's sha256

    def model_files(self, root: Path, model: str) -> list[Path]:
        return []

    def _test(self) -> list[int]:
        return [i for i, s in enumerate(self._part().split) if s == "test"]

    def read_items(self, root: Path) -> ItemTable:
        part, rows = self._part(), self._test()
        meta = {"category": [part.label] * len(rows)} if part.label is not None else {}
        return ItemTable(ids=[part.ids[i] for i in rows], prompts=[part.prompts[i] for i in rows], meta=meta)

    def read_model(self, root: Path, model: str, items: ItemTable) -> ModelRecords:
        part = self._part()
        rows = [i for i in self._test() if not np.isnan(part.scores[model][i])]
        raw = part.scores[model][rows]
        native = {"item_value": raw * METRICS[self.table.metric]}
        if part.costs is not None:
            native["cost"] = part.costs[model][rows]
        return ModelRecords(model=model, source=str(self.table.path), ids=[part.ids[i] for i in rows],
                            answers=[part.answers[model][i] for i in rows], native=native, gt=raw.copy())

    def score(self, data: BenchmarkData, choice: np.ndarray, *, seed: int = 0, detail: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"score": float(data.routed("item_value", choice).mean())}
        if "cost" in data.native:
            out["mean_cost"] = float(np.nanmean(data.routed("cost", choice)))
        return out


def register(spec: str) -> list[str]:
    """Register the benchmarks of a ``[name=]path`` file; returns their names."""
    name, path = parse_spec(spec)
    resolved = path.resolve()
    known = next((t for t in _TABLES.values() if t.name == name), None)
    if known is not None and known.path == resolved and known.sha256 == sha256_file(resolved):
        return [b for b, t in _TABLES.items() if t is known]
    table = load_table(name, resolved)
    untested = [b for b, part in table.parts.items() if "test" not in part.split]
    if untested:  # nothing to score: not a benchmark (paper protocol trains per benchmark, so no use either)
        print(f"{path}: {', '.join(untested)}: no test rows, not registered", file=sys.stderr)
    fresh = [b for b in table.parts if b not in untested]
    clash = [b for b in fresh if b in BENCHMARKS and b not in _TABLES]
    if clash:
        raise HarnessError(f"BENCHMARK_FILE={spec}: '{clash[0]}' is a built-in benchmark; name the file otherwise")
    for bench in [b for b, t in _TABLES.items() if t is known and b not in fresh]:
        BENCHMARKS._entries.pop(bench, None)  # labels the edited file no longer has
        del _TABLES[bench]
    for bench in fresh:
        cls = type(f"FileBenchmark_{_slug(bench)}", (FileBenchmark,),
                   {"name": bench, "title": bench, "metric": table.metric, "table": table, "bench": bench})
        BENCHMARKS._entries.pop(bench, None)  # a re-registered file replaces its earlier version
        register_benchmark(bench)(cls)
        _TABLES[bench] = table
    if known is not None:  # the same name re-read (edited file): drop what was parsed from the old one
        from harness.core import runner, store

        store.clear_memo()
        runner.references.cache_clear()
    return fresh


def register_env() -> list[str]:
    """The files named in ``BENCHMARK_FILE`` (several separated by ``os.pathsep``)."""
    return [b for spec in os.environ.get(ENV, "").split(os.pathsep) if spec.strip() for b in register(spec.strip())]


def names() -> list[str]:
    """Every benchmark registered from a file, in registration order."""
    return list(_TABLES)


def models_of(benchmarks: list[str]) -> list[str]:
    """Candidates every file behind ``benchmarks`` scores, in the first file's order."""
    tables = [_TABLES[b] for b in benchmarks if b in _TABLES]
    return [m for m in tables[0].models if all(m in t.models for t in tables)] if tables else []


def files_of(benchmarks: list[str]) -> dict[str, dict[str, str]]:
    """Path and sha256 of the files behind ``benchmarks`` (for run files)."""
    return {b: {"name": _TABLES[b].name, "path": str(_TABLES[b].path), "sha256": _TABLES[b].sha256}
            for b in benchmarks if b in _TABLES}


def ensure_registered(files: dict[str, dict[str, str]]) -> None:
    """Re-register the files a run file names, when they are still there unchanged (reports)."""
    for bench, info in files.items():
        path = Path(info.get("path", ""))
        if bench in BENCHMARKS or not path.is_file():
            continue
        if sha256_file(path) == info.get("sha256"):
            register(f"{info.get('name', bench)}={path}")


def training_data(benchmarks: list[str], models: list[str]):
    """``PROTOCOL=paper`` on benchmark files: their train (and val) rows; None when no benchmark
    of the run comes from a file."""
    mine = [b for b in benchmarks if b in _TABLES]
    if not mine:
        return None
    if len(mine) != len(benchmarks):
        raise HarnessError("PROTOCOL=paper: benchmark files and built-in benchmarks in one run have different "
                           f"training sets; run {', '.join(mine)} apart")
    from harness.core.training_sets import TrainingData

    train, valid = _rows(mine, models, ("train",)), _rows(mine, models, ("val",))
    if len(train) == 0:
        raise HarnessError(f"PROTOCOL=paper: {_TABLES[mine[0]].path}: no train rows scored by every candidate "
                           "(split column: train, val, test)")
    return TrainingData(train=train, valid=valid if len(valid) else None, used=list(dict.fromkeys(_TABLES[b].name for b in mine)))


def _rows(benchmarks: list[str], models: list[str], splits: tuple[str, ...]):
    from routers.base import RoutingData

    uids, labels, prompts, responses, scores = [], [], [], [], []
    for bench in benchmarks:
        table, part = _TABLES[bench], _TABLES[bench].parts[bench]
        missing = [m for m in models if m not in table.models]
        if missing:
            raise HarnessError(f"{table.path}: model '{missing[0]}' has no scores (candidates: {', '.join(table.models)})")
        for i, split in enumerate(part.split):
            row = [part.scores[m][i] for m in models]
            if split in splits and not np.isnan(row).any():
                uids.append(f"{bench}/{split}/{part.ids[i]}")
                labels.append(bench)
                prompts.append(part.prompts[i])
                responses.append([part.answers[m][i] for m in models])
                scores.append(row)
    return RoutingData(uids=uids, benchmarks=labels, prompts=prompts, models=list(models), responses=responses,
                       scores=np.asarray(scores, dtype=np.float64).reshape(len(uids), len(models)))
