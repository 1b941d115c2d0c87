"""The Lookahead routers' training losses against ones computed by hand (tiny random backbones, the
real tokenizers, real items).

Lookahead-MLM: BCE of the [CLS] routing head on the binary labels plus lam times the cross-entropy of
the token head *at the masked span positions*, each predicting the response token it hides. The
positions are worked out here from the layout of paper notes section 5 ([CLS] x [SEP], then per
candidate m span positions and [SEP]; the last max(floor(len * rate), 1) response tokens of a span are
masked; span positions restart after the query or count straight on, per ``span_positions``), not read
from the router's label tensor, so a loss that reads the states one position off (or the labels of
another span) fails. Lookahead-CLM: the same on T separate sequences x ‖ MID_t ‖ y_t.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from harness.core import store
from harness.core.runner import routing_data
from routers import build_router
from routers.base import RouterContext
from routers.labels import binary_labels

POOL = ["Yi-1.5-34B-Chat", "internlm2_5-20b-chat", "Qwen2.5-Coder-7B-Instruct"]


@pytest.fixture(scope="module")
def items():
    return routing_data({b: store.load(b, POOL) for b in ["gsm8k", "humaneval"]}, POOL)


def _loss(out) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out  # (loss, parts) or the loss alone


def _hand_loss(router, examples, rate: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(routing BCE, masked-token cross-entropy), from plain padded forward passes of the encoder."""
    tok, m = router.tokenizer, router.settings["span"]
    restart = router.settings["span_positions"] == "restart"
    model = router.model
    rows, positions, targets = [], [], []
    for e in examples:
        query = e.features["query"]
        ids, pos = [tok.cls_token_id, *query, tok.sep_token_id], list(range(len(query) + 2))
        base = len(ids)
        for t, mid in enumerate(router.mid_ids):
            response = e.features["responses"][t][:m]
            n = 0 if not response else min(len(response), max(math.floor(len(response) * rate), 1))
            span = list(response[:len(response) - n]) + [mid] * (m - len(response) + n)
            start = len(ids)
            for j in range(len(response) - n, len(response)):
                positions.append((len(rows), start + j))
                targets.append(response[j])
            first = base if restart else start  # spans restart after the query, or count straight on
            ids += span + [tok.sep_token_id]
            pos += list(range(first, first + m + 1))
        rows.append((ids, pos))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), tok.pad_token_id)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (ids, pos) in enumerate(rows):
        input_ids[r, :len(ids)], position_ids[r, :len(ids)], mask[r, :len(ids)] = torch.tensor(ids), torch.tensor(pos), 1
    hidden = model.encoder(input_ids=input_ids, attention_mask=mask, position_ids=position_ids).last_hidden_state
    labels = torch.tensor(np.stack([binary_labels(e.scores[None, :])[0] for e in examples]))
    routing = F.binary_cross_entropy_with_logits(model.route(hidden[:, 0]), labels)
    states = torch.stack([hidden[r, p] for r, p in positions])
    response = F.cross_entropy(model.token_head(states), torch.tensor(targets))
    return routing, response


@pytest.mark.parametrize("progress,rate,positions", [(0.2, 0.5, "straight"), (1.0, 1.0, "straight"),
                                                    (0.2, 0.5, "restart")])
def test_mlm_loss_is_bce_plus_lam_times_masked_token_cross_entropy(items, progress, rate, positions):
    lam = 0.7
    router = build_router("lookahead_mlm", RouterContext(models=POOL, profile="smoke", seed=0,
                                                         options={"lam": str(lam), "span_positions": positions}))
    router.init_untrained()
    router.model.eval()  # no dropout: the same states in both computations
    examples = router.make_examples(items.subset([0, 5, 1400]), train=True)
    assert router.rate(progress) == pytest.approx(rate)
    assert all(len(r) > 1 for e in examples for r in e.features["responses"])
    with torch.no_grad():
        got = _loss(router.loss(router.model, router.collate(examples, True), progress))
        routing, response = _hand_loss(router, examples, rate)
    assert response.item() > 1.0  # an untrained head: far from zero, so lam * response is visible
    assert got.item() == pytest.approx((routing + lam * response).item(), abs=1e-4)


def test_clm_loss_is_bce_plus_lam_times_next_token_cross_entropy(items):
    """Lookahead-CLM, by hand on the released layout (one sequence x ‖ MID_t ‖ y_t per candidate):
    r_t is the state at MID_t, scored by the shared scorer (BCE); the state at MID_t predicts y_0 and
    the state at y_j predicts y_{j+1} (next-token cross-entropy over every response token)."""
    router = build_router("lookahead_clm", RouterContext(models=POOL, profile="smoke", seed=0))
    router.init_untrained()
    model = router.model.eval()
    examples = router.make_examples(items.subset([0, 5, 1400]), train=True)
    lam = router.settings["lam"]
    with torch.no_grad():
        got = _loss(router.loss(model, router.collate(examples, True), 0.5))
        logits, states, targets = [], [], []
        for e in examples:
            for t, mid in enumerate(router.mid_ids):
                query, response = e.features["query"], e.features["responses"][t]
                ids = torch.tensor([[*query, mid, *response]])
                hidden = model.lm.model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
                logits.append(model.scorer(hidden[len(query)]))
                states.append(hidden[len(query):len(query) + len(response)])  # MID_t, y_0, ..., y_{L-2}
                targets += response
        labels = torch.tensor(np.stack([binary_labels(e.scores[None, :])[0] for e in examples]))
        routing = F.binary_cross_entropy_with_logits(torch.cat(logits).view(len(examples), -1), labels)
        response = F.cross_entropy(model.lm.lm_head(torch.cat(states)).float(), torch.tensor(targets))
    assert response.item() > 1.0
    assert got.item() == pytest.approx((routing + lam * response).item(), abs=1e-4)
