"""What an import leaves behind so that a row naming an imported candidate can be traced and rebuilt.

* The **import manifest** ``<cache>/imports/<model>.json``: the format and options, the sha256 of the
  user's files it read, the sha256 of every cache file it wrote, and per benchmark the item count and
  the model's own metric. Run files record its sha256 beside the candidate files' own
  (``provenance.candidate_files``).
* The **bundle** (``routing-harness export --format bundle``): one ``<model>.rh-import.tar.gz`` with
  the candidate's cache files and its manifest. ``routing-harness import --format bundle`` checks every
  file against the manifest's sha256, reads it back through the benchmarks' adapters and writes the
  same bytes, so the candidate files of a clone hash as in the published run files.

Imports: core, benchmarks and the grading staging.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from harness.core import config, provenance
from harness.core.errors import HarnessError
from harness.core.io import atomic_write_bytes, atomic_write_json, read_json
from harness.grading.staging import Staging, check_model_name, commit_all

BUNDLE_SUFFIX = ".rh-import.tar.gz"
MANIFEST_NAME = "IMPORT.json"  # the manifest's name inside a bundle
MAX_SOURCE_FILES = 5000  # a folder given as FILE= is hashed whole, up to this many files


@dataclass
class BenchmarkSummary:
    benchmark: str
    metric: str
    score: float
    items: int
    dropped: int

    def line(self, model: str) -> str:
        dropped = f" ({self.dropped} left out)" if self.dropped else ""
        return f"import: {model} on {self.benchmark}: {self.items} items{dropped}, {self.metric} {self.score:.2f}"


def manifest_path(model: str) -> Path:
    return config.cache_root() / "imports" / f"{model}.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_hashes(path: Path) -> dict[str, str]:
    """sha256 of the user's file, or of every file of the folder they named."""
    if path.is_file():
        return {path.name: _sha256(path.read_bytes())}
    files = sorted(p for p in path.rglob("*") if p.is_file())
    if len(files) > MAX_SOURCE_FILES:
        return {}
    return {p.relative_to(path).as_posix(): _sha256(p.read_bytes()) for p in files}


def benchmarks_of(model: str, written: list[Path]) -> list[str]:
    """The benchmarks whose candidate files an import wrote."""
    from benchmarks import PAPER_BENCHMARKS, get_benchmark

    root, paths = config.cache_root(), {str(p) for p in written}
    return [b for b in PAPER_BENCHMARKS if any(str(f) in paths for f in get_benchmark(b).model_files(root, model))]


def summarize(model: str, benchmarks: list[str]) -> list[BenchmarkSummary]:
    """Items and the model's own metric (as a fixed router of one) per imported benchmark."""
    from benchmarks import get_benchmark
    from harness.core import store

    out = []
    for b in benchmarks:
        data = store.load(b, [model])
        adapter = get_benchmark(b)
        try:
            score = float(adapter.score(data, data.fixed_choice(0), detail=False)["score"])
        except HarnessError as exc:  # the files are in: say why there is no figure, keep the import
            print(f"import: {model} on {b}: no {adapter.metric} ({exc})")
            score = float("nan")
        out.append(BenchmarkSummary(b, adapter.metric, score, data.n_items, len(data.dropped)))
    return out


def write_manifest(model: str, fmt: str, source: Path | None, written: list[Path], options: dict,
                   summary: list[BenchmarkSummary], sources: dict[str, str] | None = None) -> Path:
    root = config.cache_root()
    record = {
        "model": model, "format": fmt, "imported": provenance.now(), "options": options,
        "source": str(source) if source else None,
        "source_files": sources if sources is not None else (_source_hashes(source) if source else {}),
        "cache_files": {p.relative_to(root).as_posix(): _sha256(p.read_bytes()) for p in sorted(written)},
        "benchmarks": {s.benchmark: {"metric": s.metric, "score": s.score, "items": s.items, "dropped": s.dropped}
                       for s in summary},
    }
    path = manifest_path(model)
    atomic_write_json(path, record)
    return path


# ---------------------------------------------------------------------------------------------
# bundles

def export_bundle(model: str, out: Path) -> Path:
    """``<out>/<model>.rh-import.tar.gz``: the candidate's cache files and its import manifest."""
    manifest = manifest_path(model)
    if not manifest.exists():
        raise HarnessError(f"{manifest}: '{model}' has no import manifest (bundles are of imported candidates; "
                           "import it with 'routing-harness import' first)")
    record = read_json(manifest)
    root = config.cache_root()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel in [*record["cache_files"], MANIFEST_NAME]:
            data = manifest.read_bytes() if rel == MANIFEST_NAME else (root / rel).read_bytes()
            if rel != MANIFEST_NAME and _sha256(data) != record["cache_files"][rel]:
                raise HarnessError(f"{root / rel}: changed since '{model}' was imported (sha256 differs from "
                                   f"{manifest}); re-import it first")
            info = tarfile.TarInfo(rel)
            info.size, info.mtime, info.mode = len(data), 0, 0o644  # reproducible bytes
            tar.addfile(info, io.BytesIO(data))
    dest = out / f"{model}{BUNDLE_SUFFIX}"
    atomic_write_bytes(dest, buf.getvalue())
    return dest


def import_bundle(path: Path, model: str, *, source: str | None = None, force: bool = False) -> list[Path]:
    """Check a bundle's files against its manifest, read them back through the adapters, write them."""
    files, record = _read_bundle(path)
    if record.get("model") != model:
        raise HarnessError(f"{path}: the bundle holds '{record.get('model')}'; import it as MODEL={record.get('model')} "
                           "(its files name the model)")
    stagings = _stage(path, files, check_model_name(model), force)
    written = commit_all(stagings)
    atomic_write_bytes(manifest_path(model), files[MANIFEST_NAME])
    return written


def _read_bundle(path: Path) -> tuple[dict[str, bytes], dict]:
    if not path.is_file():
        raise HarnessError(f"{path}: expected a {BUNDLE_SUFFIX} file (routing-harness export --format bundle)")
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise HarnessError(f"{path}: not a readable bundle ({exc})") from None
    if MANIFEST_NAME not in files:
        raise HarnessError(f"{path}: no {MANIFEST_NAME} in the bundle")
    try:
        record = json.loads(files[MANIFEST_NAME])
        expected = dict(record["cache_files"])
    except (ValueError, KeyError, TypeError):
        raise HarnessError(f"{path}: {MANIFEST_NAME} is not an import manifest") from None
    for rel, digest in expected.items():
        if rel not in files:
            raise HarnessError(f"{path}: {rel} is listed in {MANIFEST_NAME} but absent")
        if _sha256(files[rel]) != digest:
            raise HarnessError(f"{path}: {rel}: sha256 differs from {MANIFEST_NAME} (damaged or edited bundle)")
    extra = set(files) - set(expected) - {MANIFEST_NAME}
    if extra:
        raise HarnessError(f"{path}: {sorted(extra)[0]} is not listed in {MANIFEST_NAME}")
    return files, record


def _stage(path: Path, files: dict[str, bytes], model: str, force: bool) -> list[Staging]:
    """One staging per benchmark, each file placed where its adapter reads it."""
    from benchmarks import PAPER_BENCHMARKS, get_benchmark

    stagings: list[Staging] = []
    placed: set[str] = set()
    for b in PAPER_BENCHMARKS:
        adapter, root = get_benchmark(b), config.cache_root()
        own = [f.relative_to(root).as_posix() for f in adapter.model_files(root, model)]
        if not any(rel in files for rel in own):
            continue
        st = Staging(b, model, force)
        folder = f"test/{adapter.folder}/"
        for rel in [r for r in files if r in own or (r.startswith(folder) and f"/{model}/" in f"/{r}")]:
            atomic_write_bytes(st.root / rel, files[rel])
            if rel not in own:
                st.extra.append(st.root / rel)
            placed.add(rel)
        stagings.append(st)
    stray = set(files) - placed - {MANIFEST_NAME}
    if stray or not stagings:
        raise HarnessError(f"{path}: {sorted(stray)[0] if stray else 'no file'} is not a candidate file of "
                           f"'{model}' in any benchmark")
    return stagings
