"""Where a result came from: code commit, data manifest, time."""
from __future__ import annotations

import datetime as _dt
import subprocess
from functools import lru_cache

from harness.core import config
from harness.core.data import manifest_hash


@lru_cache(maxsize=1)
def git_commit() -> str:
    root = config.project_root()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def stamp() -> dict[str, str]:
    return {"commit": git_commit(), "data_manifest": manifest_hash(), "created": now()}
