"""Where a result came from: code commit, data manifest, time, the router's code fingerprint and the
sha256 of every user file it depends on (a ``ROUTER_MODULE``, an imported candidate's answers)."""
from __future__ import annotations

import datetime as _dt
import os
import subprocess
import sys
from functools import lru_cache

from harness.core import config
from harness.core.io import sha256_file
from harness.core.data import manifest_hash
from harness.core.fingerprint import PROJECT_PACKAGES, code_fingerprint


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


def code_stamp(router_class: type) -> dict:
    """The router's code fingerprint, and the user files (plug-in modules) that define it, hashed."""
    module = sys.modules.get(router_class.__module__)
    file = getattr(module, "__file__", None)
    builtin = router_class.__module__.split(".")[0] in PROJECT_PACKAGES
    user = {str(file): sha256_file(file)} if file and not builtin and os.path.isfile(file) else {}
    return {"code": code_fingerprint(router_class, "harness.core.runner"), "user_files": user}


def candidate_files(benchmarks: list[str], models: list[str]) -> dict[str, str]:
    """sha256 of the cache files of candidates the released manifest does not cover (imported ones),
    keyed by their path under the cache, so a row naming them can be traced."""
    from benchmarks import get_benchmark
    from harness.core.data import manifest

    root, known = config.cache_root(), manifest()
    out = {}
    for bench in benchmarks:
        for model in models:
            for path in get_benchmark(bench).model_files(root, model):
                rel = str(path.relative_to(root))
                if rel not in known:
                    out[rel] = sha256_file(str(path))
    for model in models:  # the import's record (source hashes, format): harness.grading.import_record
        record = root / "imports" / f"{model}.json"
        if record.is_file():
            out[str(record.relative_to(root))] = sha256_file(str(record))
    return out
