"""Where things live. Every location can be overridden by an environment variable (the Makefile
passes its variables through), so tests and `make eval` find data the same way."""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # harness/core/config.py -> the checkout


def project_root() -> Path:
    """The source checkout when running from one (editable install), else the working directory."""
    if (_PACKAGE_ROOT / "pyproject.toml").exists():
        return _PACKAGE_ROOT
    return Path.cwd()


def data_dir() -> Path:
    """The project's local copy of the cache: ``<data_dir>/compressed_data/{test,train}``."""
    return Path(os.environ.get("HARNESS_DATA_DIR") or project_root() / "data")


def cache_root() -> Path:
    """The released cache itself (the ``compressed_data`` folder)."""
    return data_dir() / "compressed_data"


def parsed_cache_dir() -> Path:
    """Parsed benchmark tables and fitted routers, keyed by the data manifest."""
    return Path(os.environ.get("HARNESS_CACHE_DIR") or data_dir() / "cache")


def results_dir() -> Path:
    return Path(os.environ.get("HARNESS_RESULTS_DIR") or project_root() / "results")


def routing_data_source() -> str | None:
    """A local copy of ``compressed_data/`` to take instead of downloading (CI: ../shared/...)."""
    value = os.environ.get("ROUTING_DATA", "").strip()
    return value or None


def alpaca_gamed_offline() -> Path | None:
    """Offline stand-in for alpaca_eval's df_gamed.csv, used only when the official file can't be had."""
    value = os.environ.get("ALPACA_EVAL_GAMED_OFFLINE", "").strip()
    if value:
        return Path(value)
    default = project_root().parent / "shared" / "alpaca_eval" / "df_gamed_offline.csv.gz"
    return default if default.exists() else None
