"""Issue 23: importers fed files as the field's tools write them.

* evalplus MBPP samples carry MBPP task ids (``Mbpp/11``, not a position in the cache), hold tasks
  the cache lacks (MBPP+ has MBPP's other splits) and lack some it has (MBPP+ dropped broken tasks).
* alpaca_eval results where a few instructions were never annotated (phi-2: 2 of 805): dropped and
  counted with ``--allow-missing N``, refused without.
* The annotations file given instead of its folder; ``import`` prints items and the native metric;
  each import is recorded (hashes) and can travel as a bundle that re-imports to the same bytes.

Runs on the symlinked cache copy of test_importers.py, so the shared data folder never changes.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from benchmarks import get_benchmark
from harness.core import config, provenance, store
from harness.core.errors import HarnessError
from harness.grading import importers, mbpp_ids
from harness.grading.import_record import manifest_path
from tests.conftest import cli_env
from tests.test_importers import YI, cache_copy, metric  # noqa: F401  (cache_copy: a fixture)

MBPP_PLUS_ONLY = {"Mbpp/2": "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n",
                  "Mbpp/3": "def is_not_prime(n):\n    return n > 1 and any(n % i == 0 for i in range(2, n))\n"}
LEFT_OUT = [5, 100, 256]  # cache positions a samples file lacks (as MBPP+ lacks some sanitized tasks)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evalplus_mbpp_file(tmp_path, rows_of=None):
    """Yi's MBPP programs as evalplus writes samples: ``Mbpp/<task id>`` ids, MBPP+ tasks the cache
    lacks first, in evalplus's task order (by id), three cache tasks missing."""
    exported = importers.export_evalplus(YI, tmp_path / "export", "mbpp")
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    rows = [r for pos, r in enumerate(rows) if pos not in LEFT_OUT]
    rows += [{"task_id": tid, "solution": code} for tid, code in MBPP_PLUS_ONLY.items()]
    rows.sort(key=lambda r: int(r["task_id"].split("/")[1]))
    path = tmp_path / "mbpp_samples.jsonl"
    path.write_text("".join(json.dumps(rows_of(r) if rows_of else r) + "\n" for r in rows))
    return path


def test_mbpp_task_ids_of_the_cache():
    assert mbpp_ids.evalplus_id(0) == "Mbpp/11" and mbpp_ids.evalplus_id(256) == "Mbpp/479"
    assert mbpp_ids.POSITION_OF[11] == "0" and mbpp_ids.POSITION_OF[14] == "2" and 13 not in mbpp_ids.POSITION_OF
    preds = store.read_items(get_benchmark("mbpp"))  # the cache's own prompts, by position
    # google-research's sanitized MBPP: task 11 remove_Occ, 12 sort_matrix, 14 find_Volume, 479 first_Digit
    for task, function in ((11, "remove_Occ"), (12, "sort_matrix"), (14, "find_Volume"), (479, "first_Digit")):
        assert f"assert {function}(" in preds.prompts[int(mbpp_ids.POSITION_OF[task])]


def test_real_evalplus_mbpp_file_imports_and_scores(cache_copy, tmp_path):  # noqa: F811
    samples = _evalplus_mbpp_file(tmp_path)
    with pytest.raises(HarnessError, match=r"no sample for 3 items \(first: Mbpp/18\).*--allow-missing 3"):
        importers.import_model("evalplus", samples, "mbpp-real")
    importers.import_model("evalplus", samples, "mbpp-real", allow_missing=3)
    data = store.load("mbpp", ["mbpp-real"])
    kept = [p for p in range(257) if p not in LEFT_OUT]
    assert data.n_items == 254 and sorted(data.dropped) == sorted(str(p) for p in LEFT_OUT)
    yi = store.load("mbpp", [YI])
    expected = 100.0 * yi.native["correct"][kept, 0].mean()  # Yi's own cached verdicts on those items
    assert metric("mbpp", "mbpp-real") == pytest.approx(expected)
    # in a pool the three items leave for every candidate, and are counted
    pool = store.load("mbpp", [YI, "mbpp-real"])
    assert pool.n_items == 254 and len(pool.dropped) == 3
    assert np.array_equal(pool.gt[:, 0], pool.gt[:, 1])


def test_mbpp_ids_read_as_positions_are_refused(cache_copy, tmp_path):  # noqa: F811
    """Ids numbered 0..256 (the old reading) name other problems: refused, not scored."""
    exported = importers.export_evalplus(YI, tmp_path, "mbpp")
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    for pos, r in enumerate(rows):
        r["task_id"] = f"Mbpp/{pos + 11}"  # a shifted numbering: real ids, wrong problems
    exported.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(HarnessError, match="do not define the function their task's asserts call"):
        importers.import_model("evalplus", exported, "shifted", allow_missing=257)


def _alpaca_with_gaps(tmp_path, gaps=(17, 503)):
    folder = importers.export_alpaca_eval(YI, tmp_path)
    ann = folder / importers.JUDGE_ALPACA / "annotations.json"
    rows = json.loads(ann.read_text())
    ann.write_text(json.dumps([r for i, r in enumerate(rows) if i not in gaps]))
    return folder, ann


def test_alpaca_eval_unannotated_items_dropped_and_counted(cache_copy, tmp_path):  # noqa: F811
    folder, _ = _alpaca_with_gaps(tmp_path)
    with pytest.raises(HarnessError, match=r"no annotation for 2 items \(first: item 17\).*--allow-missing 2"):
        importers.import_model("alpaca_eval", folder, "alpaca-gaps")
    with pytest.raises(HarnessError, match=r"--allow-missing 1\); pass --allow-missing 2"):
        importers.import_model("alpaca_eval", folder, "alpaca-gaps", allow_missing=1)
    assert "alpaca-gaps" not in get_benchmark("alpacaeval").models(cache_copy)
    importers.import_model("alpaca_eval", folder, "alpaca-gaps", allow_missing=2)
    pool = store.load("alpacaeval", [YI, "alpaca-gaps"])
    assert pool.n_items == 803 and set(pool.dropped) == {"17", "503"}
    assert np.array_equal(pool.native["preference"][:, 0], pool.native["preference"][:, 1])


def test_alpaca_eval_annotations_file_instead_of_folder(cache_copy, tmp_path):  # noqa: F811
    _, ann = _alpaca_with_gaps(tmp_path, gaps=())
    importers.import_model("alpaca_eval", ann, "alpaca-by-file")
    assert metric("alpacaeval", "alpaca-by-file") == pytest.approx(metric("alpacaeval", YI), abs=1e-9)
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    with pytest.raises(HarnessError, match=r"notes.txt: pass alpaca_eval's results/<model> folder"):
        importers.import_model("alpaca_eval", stray, "alpaca-stray")


def test_import_is_recorded_and_run_files_reference_it(cache_copy, tmp_path):  # noqa: F811
    path = importers.export_mt_bench(YI, tmp_path)
    written = importers.import_model("mt_bench", path, "recorded")
    record = json.loads(manifest_path("recorded").read_text())
    assert record["format"] == "mt_bench" and record["source_files"] == {path.name: _sha256(path)}
    assert record["cache_files"] == {p.relative_to(cache_copy).as_posix(): _sha256(p) for p in written}
    assert record["benchmarks"]["mtbench"]["items"] == 80
    assert record["benchmarks"]["mtbench"]["score"] == pytest.approx(metric("mtbench", YI))
    traced = provenance.candidate_files(["mtbench"], [YI, "recorded"])
    assert traced["imports/recorded.json"] == _sha256(manifest_path("recorded"))


def test_bundle_travels_and_reimports_the_same_bytes(cache_copy, tmp_path):  # noqa: F811
    importers.import_model("mt_bench", importers.export_mt_bench(YI, tmp_path / "src"), "travels")
    record = json.loads(manifest_path("travels").read_text())
    bundle = importers.export_bundle("travels", tmp_path / "share")
    for rel in record["cache_files"]:  # a clone without the candidate
        (cache_copy / rel).unlink()
    manifest_path("travels").unlink()
    store.clear_memo()
    importers.import_model("bundle", bundle, "travels")
    assert {rel: _sha256(cache_copy / rel) for rel in record["cache_files"]} == record["cache_files"]
    assert metric("mtbench", "travels") == pytest.approx(metric("mtbench", YI))
    with pytest.raises(HarnessError, match="the bundle holds 'travels'"):
        importers.import_model("bundle", bundle, "renamed")
    tampered = tmp_path / "tampered" / bundle.name  # one file edited, the record left as it was
    with tarfile.open(bundle) as src:
        files = {m.name: src.extractfile(m).read() for m in src.getmembers()}
    rel = next(iter(record["cache_files"]))
    files[rel] = gzip.compress(gzip.decompress(files[rel]).replace(b'"score": 8', b'"score": 9', 1))
    tampered.parent.mkdir()
    with tarfile.open(tampered, "w:gz") as out:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    with pytest.raises(HarnessError, match=f"{rel}: sha256 differs"):
        importers.import_model("bundle", tampered, "travels", force=True)


def test_cli_import_prints_items_and_metric(cache_copy, tmp_path):  # noqa: F811
    path = importers.export_mt_bench(YI, tmp_path)
    env = cli_env(tmp_path, HARNESS_DATA_DIR=str(cache_copy.parent), HARNESS_CACHE_DIR=str(config.parsed_cache_dir()))
    proc = subprocess.run([sys.executable, "-m", "harness", "import", "--format", "mt_bench", "--file", str(path),
                           "--model", "cli-printed"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"cli-printed on mtbench: 80 items, mean_score {metric('mtbench', YI):.2f}" in proc.stdout, proc.stdout
