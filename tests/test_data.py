from __future__ import annotations

from harness.core import config, data


def test_manifest_covers_every_cache_file_and_reports_gaps():
    report = data.inspect()
    assert report.verified == len(data.manifest()) == 124
    assert report.missing == []
    gaps = "\n".join(report.gaps)
    assert "train/UltraFeedback/instructions.jsonl.gz" in gaps
    assert "OpenMathInstruct2_filtered2/responses" in gaps


def test_manifest_hash_is_stable():
    """The data version every leaderboard row records: the committed manifest's sha256 prefix, the
    same from another process and working directory (it names the data, not where it is read)."""
    import hashlib
    import subprocess
    import sys

    assert data.manifest_hash() == "96e6579629a1"  # results/leaderboard.csv's data_manifest column
    assert data.manifest_hash() == hashlib.sha256(data.MANIFEST_PATH.read_bytes()).hexdigest()[:12]
    other = subprocess.run([sys.executable, "-c", "from harness.core import data; print(data.manifest_hash())"],
                           cwd="/", capture_output=True, text=True, timeout=120)
    assert other.stdout.strip() == data.manifest_hash(), other.stderr


def test_copy_is_all_or_nothing(tmp_path, monkeypatch):
    import pytest

    from harness.core.errors import HarnessError

    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "d"))
    with pytest.raises(HarnessError, match="no test/ folder"):
        data.prepare(source=str(tmp_path), force=True)
    assert not (tmp_path / "d" / "compressed_data").exists()
    assert config.cache_root() == tmp_path / "d" / "compressed_data"
