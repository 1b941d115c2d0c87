"""Tests run on the real released cache, found the same way `make eval` finds it."""
from __future__ import annotations

import os

import pytest

from harness.core import data
from harness.core.pools import PAPER5


@pytest.fixture(scope="session", autouse=True)
def real_cache():
    data.ensure()  # copies $ROUTING_DATA (CI: ../shared) when the local copy is absent


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
