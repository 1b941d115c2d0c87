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


def published_results_dir() -> Path:
    """The committed results: the project's board. Written only when publishing."""
    return project_root() / "results"


def scratch_dir() -> Path:
    """Where runs go unless published: git-ignored, seeded with the published board on first use
    so a new router appears beside the published ones."""
    return Path(os.environ.get("HARNESS_SCRATCH_DIR") or project_root() / "scratch")


def publishing() -> bool:
    return os.environ.get("HARNESS_PUBLISH", "") not in ("", "0")


def results_dir() -> Path:
    """The results tree this command reads and writes: ``HARNESS_RESULTS_DIR`` when set, the
    committed ``results/`` when publishing (``PUBLISH=1``), else the scratch board."""
    if os.environ.get("HARNESS_RESULTS_DIR"):
        return Path(os.environ["HARNESS_RESULTS_DIR"])
    if publishing():
        return published_results_dir()
    scratch = scratch_dir()
    _seed_scratch(scratch, published_results_dir())
    return scratch


def _seed_scratch(scratch: Path, published: Path) -> None:
    """Copy the published board (leaderboard, run files, cost files) into an empty scratch tree."""
    import shutil

    if (scratch / "leaderboard.csv").exists() or not (published / "leaderboard.csv").exists():
        return
    staging = scratch.with_name(scratch.name + f".seeding-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ("runs", "cost"):
        if (published / name).is_dir():
            shutil.copytree(published / name, staging / name)
    for name in ("leaderboard.csv", "leaderboard.md"):
        if (published / name).exists():
            shutil.copy2(published / name, staging / name)
    scratch.mkdir(parents=True, exist_ok=True)
    for entry in staging.iterdir():  # leaderboard.csv last: its presence marks the seed complete
        if entry.name != "leaderboard.csv" and not (scratch / entry.name).exists():
            entry.rename(scratch / entry.name)
    if (staging / "leaderboard.csv").exists():
        os.replace(staging / "leaderboard.csv", scratch / "leaderboard.csv")
    shutil.rmtree(staging, ignore_errors=True)


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
