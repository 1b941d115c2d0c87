"""Multi-process training through torch DistributedDataParallel (harness/core/distributed.py): two
CPU processes (gloo) on the same global batches end with the weights one process reaches alone."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

SCRIPT = """
import os, sys, torch
from torch import nn
from harness.core import store
from harness.core.runner import routing_data
from routers import build_router
from routers.base import RouterContext
pool = ["Yi-1.5-34B-Chat", "internlm2_5-20b-chat", "Qwen2.5-Coder-7B-Instruct"]
items = routing_data({"humaneval": store.load("humaneval", pool)}, pool)
router = build_router("mlc", RouterContext(models=pool, profile="smoke", seed=0, options={
    "max_train_items": 39, "batch_size": 8, "epochs": 2, "num_threads": 1}))
build = router.build
def build_without_dropout():  # dropout masks differ with the batch split; the gradients must not
    build()
    for module in router.model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    torch.save(router.model.state_dict(), os.path.join(sys.argv[1], "init"))
router.build = build_without_dropout
router.fit(items)
torch.save({n: p.detach() for n, p in router.model.state_dict().items()},
           os.path.join(sys.argv[1], "rank" + os.environ.get("RANK", "single")))
"""


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """{"single": ..., "rank0": ..., "rank1": ...}: state dicts after the same training."""
    out = tmp_path_factory.mktemp("ddp")
    script = out / "train.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    env.pop("WORLD_SIZE", None)
    single = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600,
                            env=env)
    assert single.returncode == 0, single.stderr[-2000:]
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    two = subprocess.run([torchrun, "--nproc_per_node=2", str(script), str(out)], capture_output=True, text=True,
                         timeout=600, env=env)
    assert two.returncode == 0, two.stderr[-2000:]
    return {name: torch.load(out / name) for name in ("init", "ranksingle", "rank0", "rank1")}


def test_two_processes_hold_the_same_weights(weights):
    for name, value in weights["rank0"].items():
        assert torch.equal(value, weights["rank1"][name]), name


def test_two_processes_match_one_process_on_the_same_global_batch(weights):
    """35 training items in batches of 8: the last batch splits 2 + 1, so each process's loss must be
    weighted by its share (a plain average of the two means is not the global batch's mean)."""
    for name, value in weights["ranksingle"].items():
        assert torch.allclose(weights["rank0"][name], value, atol=1e-6, rtol=1e-5), name
    head = "out.weight"  # training moved the weights (a trainer that skipped steps would also agree)
    assert (weights["rank0"][head] - weights["init"][head]).abs().max() > 1e-3


def test_the_trainer_has_no_hand_written_all_reduce():
    from pathlib import Path

    for path in ("harness/core/distributed.py", "routers/trainer.py"):
        assert "all_reduce" not in Path(path).read_text(), path
