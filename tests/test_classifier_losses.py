"""MLC's and ZOOTER's training losses against the method cards, computed by hand from the router's own
logits (tiny random BERT, real MT-Bench items, whose scores are not 0/1, so labels and normalized
scores differ): MLC is BCE on the binary labels (per-item min-max >= 0.8); ZOOTER is the forward
KL(p || softmax(logits)) with p = softmax(normalized / kl_temperature), averaged over the batch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.core import store
from harness.core.runner import routing_data
from routers import build_router
from routers.base import RouterContext
from routers.labels import binary_labels, per_item_normalized

POOL = ["Yi-1.5-34B-Chat", "internlm2_5-20b-chat", "Phi-3-medium-4k-instruct"]


@pytest.fixture(scope="module")
def items():
    data = routing_data({"mtbench": store.load("mtbench", POOL)}, POOL)
    return data.subset(np.arange(12))


def _setup(name: str, items):
    router = build_router(name, RouterContext(models=POOL, profile="smoke", seed=0))
    router.init_untrained()
    model = router.model.eval()  # no dropout
    batch = router.collate(router.make_examples(items, train=True), True)
    with torch.no_grad():
        out = router.loss(model, batch, 0.5)
        logits = model(batch["input_ids"], batch["attention_mask"])
    loss = out[0] if isinstance(out, tuple) else out
    return router, loss, logits


def test_mlc_loss_is_bce_on_binary_labels(items):
    labels = binary_labels(items.scores)
    assert not np.array_equal(labels, per_item_normalized(items.scores))  # the two targets differ here
    _, loss, logits = _setup("mlc", items)
    expected = F.binary_cross_entropy_with_logits(logits, torch.tensor(labels))
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)


def test_zooter_loss_is_kl_to_the_tempered_softmax_of_normalized_scores(items):
    router, loss, logits = _setup("zooter", items)
    temperature = router.settings["kl_temperature"]
    assert temperature == 0.1  # the released scripts' value (smoke, small and cpu profiles)
    p = torch.softmax(torch.tensor(per_item_normalized(items.scores), dtype=torch.float32) / temperature, dim=-1)
    log_q = torch.log_softmax(logits, dim=-1)
    expected = (p * (torch.log(p) - log_q)).sum(dim=-1).mean()
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
