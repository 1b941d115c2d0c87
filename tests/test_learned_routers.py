"""Learned classifier routers on the smoke profile: determinism, leakage, losses, bad input."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from harness.core import protocols, store
from harness.core.errors import HarnessError
from harness.core.runner import routing_data
from routers import build_router, register_router
from routers.base import RouterContext
from routers.classifier import MLC, sample_llm_loss
from routers.profiles import settings

POOL = ["Yi-1.5-34B-Chat", "internlm2_5-20b-chat", "Phi-3-medium-4k-instruct", "Llama-3.1-8B-Instruct",
        "Qwen2.5-Coder-7B-Instruct"]


@pytest.fixture(scope="module")
def items():
    datas = {b: store.load(b, POOL) for b in ["gsm8k", "humaneval", "mtbench"]}
    return routing_data(datas, POOL)


@pytest.mark.parametrize("name", ["mlc", "zooter", "routerdc"])
def test_same_seed_same_choices(items, name):
    sub = items.subset(np.arange(0, len(items), 3))
    choices = []
    for _ in range(2):
        router = build_router(name, RouterContext(models=POOL, profile="smoke", seed=1))
        router.fit(sub)
        choices.append(np.argmax(router.predict(items.subset(np.arange(1, 300, 3)).queries()), axis=1))
    assert np.array_equal(choices[0], choices[1])
    assert router.training_summary()["steps"] > 0


class RecordingMLC(MLC):
    """An MLC that keeps the uids of every training batch, to check the cv protocol for leakage."""

    seen: list[set[str]] = []

    def fit(self, train, valid=None):
        super().fit(train, valid)
        RecordingMLC.seen.append(set(self.history.seen_uids) | set(train.uids))


register_router("_recording_mlc")(RecordingMLC)


def test_cv_never_trains_on_held_out_items(items, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))  # no cached folds: really fit
    RecordingMLC.seen.clear()
    sub = items.subset(np.arange(0, len(items), 4))
    make = lambda: build_router("_recording_mlc", RouterContext(models=POOL, profile="smoke", seed=0))  # noqa: E731
    scores, folds, summaries = protocols.cross_validate(make, "_recording_mlc", sub, k=3, seed=0, progress=False)
    assert len(RecordingMLC.seen) == 3 and scores.shape == (len(sub), len(POOL))
    for fold, seen in enumerate(RecordingMLC.seen):
        held_out = {sub.uids[i] for i in np.flatnonzero(folds == fold)}
        assert seen and not (seen & held_out)
    # the documented folds (seeded, stratified by benchmark), balanced in size
    assert np.array_equal(folds, protocols.cv_folds(sub.benchmarks, 3, 0))
    assert np.ptp(np.bincount(folds, minlength=3)) <= 1
    for name in set(sub.benchmarks):
        per_fold = np.bincount(folds[np.asarray(sub.benchmarks) == name], minlength=3)
        assert per_fold.max() - per_fold.min() <= 1
    # a re-run reads the cached folds instead of fitting again
    RecordingMLC.seen.clear()
    again, _, _ = protocols.cross_validate(make, "_recording_mlc", sub, k=3, seed=0, progress=False)
    assert RecordingMLC.seen == [] and np.array_equal(again, scores)


def test_routerdc_sample_llm_loss():
    scores = torch.tensor([[1.0, 0.0, 0.0]])
    good = sample_llm_loss(torch.tensor([[5.0, -5.0, -5.0]]), scores, top_k=1, last_k=2)
    bad = sample_llm_loss(torch.tensor([[-5.0, 5.0, 5.0]]), scores, top_k=1, last_k=2)
    assert good < 0.01 < bad
    # a positive scoring 0 contributes nothing; a negative scoring > 0.5 is excluded
    assert sample_llm_loss(torch.zeros(1, 3), torch.zeros(1, 3), top_k=3, last_k=2) == 0
    only_pos = sample_llm_loss(torch.tensor([[0.0, 9.0, 0.0]]), torch.tensor([[1.0, 0.9, 0.0]]), top_k=1, last_k=2)
    assert only_pos == pytest.approx(np.log(2), abs=1e-4)  # the 0.9 candidate is not a negative


def test_unknown_profile_and_small_pool():
    with pytest.raises(HarnessError, match="unknown profile 'fast'"):
        build_router("mlc", RouterContext(models=POOL, profile="fast"))
    with pytest.raises(HarnessError, match="at least two models"):
        build_router("mlc", RouterContext(models=POOL[:1], profile="smoke"))
    with pytest.raises(HarnessError, match="option epochs"):
        settings("smoke", "classifier", options={"epochs": "two"})


def test_backbone_unavailable_offline_is_one_line():
    code = ("from routers.backbones import load_tokenizer\n"
            "load_tokenizer('modernbert-base')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "answerdotai/ModernBERT-base" in last and "backbone=<path>" in last


DDP_SCRIPT = """
import os, sys, torch
from harness.core import store
from harness.core.runner import routing_data
from routers import build_router
from routers.base import RouterContext
pool = ["Yi-1.5-34B-Chat", "internlm2_5-20b-chat", "Qwen2.5-Coder-7B-Instruct"]
items = routing_data({"humaneval": store.load("humaneval", pool)}, pool)
router = build_router("mlc", RouterContext(models=pool, profile="smoke", seed=0, options={"max_train_items": 32}))
router.fit(items)
weights = torch.cat([p.detach().flatten() for p in router.model.parameters()])
open(os.path.join(sys.argv[1], "rank" + os.environ["RANK"]), "w").write(repr(weights.sum().item()))
"""


def test_training_runs_unchanged_under_torchrun(tmp_path):
    """Two processes (gloo on the CPU) end with identical weights: gradients are averaged."""
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    proc = subprocess.run([torchrun, "--nproc_per_node=2", str(script), str(tmp_path)], capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "rank0").read_text() == (tmp_path / "rank1").read_text()
