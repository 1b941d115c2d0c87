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
    assert data.manifest_hash() == data.manifest_hash() and len(data.manifest_hash()) == 12


def test_copy_is_all_or_nothing(tmp_path, monkeypatch):
    import pytest

    from harness.core.errors import HarnessError

    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "d"))
    with pytest.raises(HarnessError, match="no test/ folder"):
        data.prepare(source=str(tmp_path), force=True)
    assert not (tmp_path / "d" / "compressed_data").exists()
    assert config.cache_root() == tmp_path / "d" / "compressed_data"
