"""Tests run on the real released cache, found the same way `make eval` finds it.

Each test session gets its own empty cache directory (parsed tables, fold fits, embeddings,
bootstrap draws), so a warm ``data/cache`` can never hide a change: set before any harness module
is imported, and inherited by the CLI subprocesses the tests start. ``HARNESS_TEST_CACHE_DIR=<dir>``
re-uses a directory on purpose (a faster local loop; never in CI).
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_OWN_CACHE = not os.environ.get("HARNESS_TEST_CACHE_DIR")
os.environ["HARNESS_CACHE_DIR"] = os.environ.get("HARNESS_TEST_CACHE_DIR") or tempfile.mkdtemp(prefix="rh-test-cache-")

from harness.core import data
from harness.core.pools import PAPER5


@pytest.fixture(scope="session", autouse=True)
def real_cache():
    data.ensure()  # copies $ROUTING_DATA (CI: ../shared) when the local copy is absent
    yield
    if _OWN_CACHE:
        shutil.rmtree(os.environ["HARNESS_CACHE_DIR"], ignore_errors=True)


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    """Keep the committed results/ untouched: every test writes into its own directory."""
    path = tmp_path / "results"
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(path))
    return path


@pytest.fixture
def paper5():
    return list(PAPER5)


def cli_env(results: os.PathLike, **extra: str) -> dict:
    env = dict(os.environ, HARNESS_RESULTS_DIR=str(results))
    env.update(extra)
    return env
