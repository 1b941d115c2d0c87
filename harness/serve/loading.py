"""Which router is served, fitted on what, and where it came from.

A router is built exactly as ``routing-harness eval`` builds it (same registry, profile, seed and
options) and then:

- ``fit="pool"``: fitted on every item of the pool's benchmarks (labels included: serving is not an
  evaluation, so nothing is held out);
- ``fit="cv:K"``: fitted on fold K's training items of the ``cv`` protocol (the other folds), as the
  evaluation fitted it;
- ``fit="paper"``: fitted on the ``paper`` protocol's training sets;
- ``run=<run file>`` (with ``fold``): the run's own router for that fold, loaded from the fold cache
  where the router can be saved (the learned torch routers), otherwise refitted on that fold's training
  items with the run's settings; the provenance says which.

Reference routers (``fixed:<model>``, ``random``) need no fit; the oracle needs the answers' grades
and cannot route live traffic.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core import protocols, provenance, runner, store
from harness.core.data import manifest_hash
from harness.core.errors import HarnessError
from harness.core.io import read_json
from harness.core.pools import resolve_pool
from routers import build_router
from routers.base import Router, RouterContext, RoutingData

FIT_MODES = ("pool", "paper", "cv:K")
INPUTS = ("last_user", "conversation")


@dataclass
class RouterSpec:
    """What to serve (the CLI's ``--router``/``--run`` and their settings)."""

    router: str | None = None
    pool: str = "paper5"
    fit: str = "pool"
    benchmarks: list[str] | None = None  # None: all seven
    profile: str = "cpu"
    seed: int = 0
    folds: int = 5
    options: dict[str, Any] = field(default_factory=dict)
    run: str | None = None  # a run file: router, pool and settings come from it
    fold: int = 0


@dataclass
class ServedRouter:
    """A fitted router and what the server says about it."""

    model_id: str  # the name a request's ``model`` uses: router-<name>
    name: str
    router: Router
    models: list[str]
    provenance: dict[str, Any]

    @property
    def input(self) -> str:
        """What the router scores: the last user message (default) or the whole conversation, as a
        router declares with ``serve_input = "conversation"``."""
        value = getattr(self.router, "serve_input", "last_user")
        if value not in INPUTS:
            raise HarnessError(f"router '{self.name}': serve_input={value!r} (known: {', '.join(INPUTS)})")
        return value

    def predict(self, prompts: list[str]) -> np.ndarray:
        """Scores (len(prompts), T): the router sees prompts only, as at evaluation time."""
        items = RoutingData(uids=[f"serve/{i}" for i in range(len(prompts))], benchmarks=[""] * len(prompts),
                            prompts=list(prompts), models=list(self.models))
        return protocols.check_scores(self.router.predict(items), len(prompts), len(self.models), self.name)


def model_id(router: str) -> str:
    return f"router-{router}"


def code_fingerprint(router: Router) -> str:
    """A short hash of the router's code (its module and the project modules it imports)."""
    from harness.core.fingerprint import code_fingerprint as fingerprint

    return fingerprint(type(router))


def _pooled(models: list[str], benchmarks: list[str] | None) -> RoutingData:
    names = runner.parse_benchmarks(benchmarks)
    return runner.routing_data({b: store.load(b, models) for b in names}, models)


def _fold(fit: str) -> int:
    try:
        return int(fit.split(":", 1)[1])
    except (IndexError, ValueError):
        raise HarnessError(f"--fit {fit!r}: expected cv:<fold number>, e.g. cv:0") from None


def _cv_train(data: RoutingData, fold: int, folds: int, seed: int) -> RoutingData:
    if not 0 <= fold < folds:
        raise HarnessError(f"fold {fold}: the cv protocol has folds 0..{folds - 1}")
    assignment = protocols.cv_folds(data.benchmarks, folds, seed)
    return data.subset(np.flatnonzero(assignment != fold))


def _fit(router: Router, spec: RouterSpec, models: list[str]) -> dict[str, Any]:
    """Fit per ``spec.fit``; returns what the provenance says about the training items."""
    if spec.fit == "pool":
        train = _pooled(models, spec.benchmarks)
        router.fit(train)
        return {"source": "pool", "benchmarks": sorted(set(train.benchmarks)), "n_items": len(train)}
    if spec.fit.startswith("cv:"):
        fold = _fold(spec.fit)
        train = _cv_train(_pooled(models, spec.benchmarks), fold, spec.folds, spec.seed)
        router.fit(train)
        return {"source": "cv", "fold": fold, "folds": spec.folds, "n_items": len(train),
                "benchmarks": sorted(set(train.benchmarks))}
    if spec.fit == "paper":
        from harness.core import training_sets

        sets = training_sets.load(models)
        router.fit(sets.train, sets.valid)
        return {"source": "paper", "training_sets": sets.used, "missing": sets.missing,
                "n_items": len(sets.train), "n_valid": len(sets.valid)}
    raise HarnessError(f"--fit {spec.fit!r}: expected one of {', '.join(FIT_MODES)}")


def _from_run(spec: RouterSpec) -> tuple[RouterSpec, dict[str, Any], dict[str, Any]]:
    """The run's settings as a spec, the run file, and its fold's training record."""
    path = Path(spec.run).expanduser()
    if not path.is_file():
        raise HarnessError(f"--run {spec.run}: run file not found")
    run = read_json(path)
    cfg = run.get("config") if isinstance(run, dict) else None
    if not isinstance(cfg, dict) or "router" not in cfg:
        raise HarnessError(f"--run {spec.run}: not a run file (no 'config' with a router)")
    folds = int(cfg.get("folds", 5))
    derived = RouterSpec(router=cfg["router"], pool=cfg.get("pool", "paper5"), benchmarks=cfg.get("benchmarks"),
                         profile=cfg.get("profile", "cpu"), seed=int(cfg.get("seed", 0)), folds=folds,
                         options=dict(cfg.get("options") or {}), run=str(path), fold=spec.fold)
    training = (run.get("routing") or {}).get("training") or []
    protocol = run.get("protocol", "none")
    if protocol == "cv":
        if not 0 <= spec.fold < folds:
            raise HarnessError(f"--fold {spec.fold}: {path.name} has folds 0..{folds - 1}")
        derived.fit = f"cv:{spec.fold}"
    elif protocol.startswith("paper"):
        derived.fit = "paper"
    record = next((t for t in training if t.get("fold") == spec.fold), {}) if protocol == "cv" else {}
    return derived, run, record


def _load_fold(router: Router, record: dict[str, Any]) -> str | None:
    """Load the run's fitted router from the fold cache; None when it is not there to load."""
    key = record.get("cache_key")
    if not key or not hasattr(router, "load"):
        return None
    path = protocols.fitted_router_path(key)
    if not path.exists():
        return None
    try:
        router.load(path)
    except Exception as exc:  # a stale or foreign file: say which, do not serve a half-loaded router
        raise HarnessError(f"fold cache {path}: cannot load it into '{type(router).__name__}' "
                           f"({type(exc).__name__}: {exc})") from None
    return str(path)


def load(spec: RouterSpec) -> ServedRouter:
    """Build, fit (or load) and describe one router."""
    started = time.perf_counter()
    run, record = None, {}
    if spec.run:
        spec, run, record = _from_run(spec)
    if not spec.router:
        raise HarnessError("serve: name a router (--router NAME) or a run file (--run FILE)")
    pool_label, models = resolve_pool(spec.pool)
    router = build_router(spec.router, RouterContext(models=models, seed=spec.seed, profile=spec.profile,
                                                     options=dict(spec.options)))
    if router.uses_test_labels:
        raise HarnessError(f"router '{spec.router}' routes by the answers' grades; it cannot route live traffic")
    trained: dict[str, Any] = {"source": "none (the router does not learn)"}
    if router.learns:
        loaded = _load_fold(router, record) if run is not None else None
        if loaded:
            trained = {"source": "run fold cache", "fold": spec.fold, "fitted_router": loaded,
                       "cache_key": record.get("cache_key")}
        else:
            if run is not None and spec.fit.startswith("cv:"):
                print(f"serve: no fitted router in the fold cache for {Path(spec.run).name} fold {spec.fold}; "
                      f"refitting it on that fold's training items", file=sys.stderr)
            trained = _fit(router, spec, models)  # n_items: handed to fit (a router's caps pick from them)
            summary = getattr(router, "training_summary", dict)()
            trained["training"] = {k: v for k, v in summary.items() if not k.endswith("curve") and k != "eval_rewards"}
            if run is not None:
                trained["refitted_for_run"] = True
    _serving_mode(router)
    served = model_id(spec.router)
    prov = {
        "model_id": served, "router": spec.router, "pool": pool_label, "models": models,
        "profile": spec.profile if router.learns else "-", "seed": spec.seed, "options": spec.options,
        "router_config": router.config(), "trained_on": trained,
        "run_file": spec.run, "run_provenance": (run or {}).get("provenance"),
        "run_router_config_matches": None if run is None else run.get("router_config") == router.config(),
        "commit": provenance.git_commit(), "data_manifest": manifest_hash(),
        "code_fingerprint": code_fingerprint(router),
        "loaded_at": provenance.now(), "load_seconds": round(time.perf_counter() - started, 2),
    }
    return ServedRouter(model_id=served, name=spec.router, router=router, models=models, provenance=prov)


def _serving_mode(router: Router) -> None:
    """Per-request settings: embedding routers stop caching query embeddings on disk (each request
    would add a shard to the training-prompt cache and every later call would re-scan it)."""
    encoder = getattr(router, "encoder", None)
    if encoder is not None and hasattr(encoder, "use_cache"):
        encoder.use_cache = False
