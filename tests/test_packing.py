"""Padding-free forward passes (routers/packing.py): the same states and gradients as the padded
batch, on the shipped MiniLM backbone and real queries; the routers use it and can turn it off."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core import store
from harness.core.runner import routing_data
from routers import build_router
from routers.backbones import load_model, load_tokenizer
from routers.base import RouterContext
from routers.packing import enable_packing, packed_hidden, uses_packing

POOL = ["Yi-1.5-34B-Chat", "internlm2_5-20b-chat", "Phi-3-medium-4k-instruct"]


@pytest.fixture(scope="module")
def queries():
    data = routing_data({b: store.load(b, POOL) for b in ["gsm8k", "mtbench", "humaneval"]}, POOL)
    return data.subset(np.arange(0, len(data), 97))


@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoModel

    return load_model("minilm", AutoModel)


def _batch(prompts: list[str], middle_padding: bool):
    """Right-padded queries (MLC), or query, padding, then a 4-token tail at restarted positions
    (the Lookahead-MLM layout's shape: padding inside the row, explicit position ids)."""
    tok = load_tokenizer("minilm")
    # lengths 10, 13, 16, ...: a batch of mixed lengths, as the training batches are
    rows = [tok(p, truncation=True, max_length=10 + 3 * i)["input_ids"] for i, p in enumerate(prompts)]
    if middle_padding:
        rows = [r + [1, 2, 3, tok.sep_token_id] for r in rows]
    width = max(map(len, rows)) + 3  # every row padded, the longest too
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    pos = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, :len(r)], mask[i, :len(r)] = torch.tensor(r), 1
        pos[i, :len(r)] = torch.arange(len(r))
        if middle_padding:  # the tail's positions restart, as the MID spans' do
            pos[i, len(r) - 4:len(r)] = torch.arange(1, 5)
    return ids, mask, pos


def _states_and_grads(model, ids, mask, pos, packed: bool):
    model.zero_grad()
    hidden = packed_hidden(model, ids, mask, pos) if packed else model(
        input_ids=ids, attention_mask=mask, position_ids=pos).last_hidden_state
    real = mask.bool()
    (hidden[real].pow(2).mean() + hidden[:, 0].sum()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return hidden.detach(), grads


@pytest.mark.parametrize("middle_padding", [False, True])
def test_packed_forward_matches_the_padded_batch(minilm, queries, middle_padding):
    ids, mask, pos = _batch(list(queries.prompts), middle_padding)
    assert (mask == 0).sum() > 0.2 * mask.numel()  # the case that matters: much padding
    minilm.eval()
    minilm.set_attn_implementation("sdpa")
    ref, ref_grads = _states_and_grads(minilm, ids, mask, pos, packed=False)
    assert enable_packing(minilm)
    got, grads = _states_and_grads(minilm, ids, mask, pos, packed=True)
    real = mask.bool()
    assert torch.allclose(got[real], ref[real], atol=2e-5, rtol=1e-4)
    assert not got[~real].any()  # padding comes back as zeros, never as stale values
    assert ref_grads.keys() == grads.keys()
    scale = max(g.abs().max().item() for g in ref_grads.values())
    for name, g in ref_grads.items():
        assert torch.allclose(grads[name], g, atol=1e-4 * scale), name


def test_batches_without_padding_and_unpacked_calls_take_the_ordinary_path(minilm, queries):
    ids, mask, pos = _batch(list(queries.prompts)[:1], middle_padding=False)
    ids, mask, pos = ids[:, :int(mask.sum())], mask[:, :int(mask.sum())], pos[:, :int(mask.sum())]
    minilm.eval()
    enable_packing(minilm)
    with torch.no_grad():
        plain = minilm(input_ids=ids, attention_mask=mask).last_hidden_state  # e.g. harness.cost.runs, batch 1
        packed = packed_hidden(minilm, ids, mask)
        minilm.set_attn_implementation("sdpa")
        reference = minilm(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(plain, reference, atol=1e-6)
    assert torch.allclose(packed, reference, atol=1e-6)


def test_packing_needs_the_packed_attention(minilm, queries):
    ids, mask, pos = _batch(list(queries.prompts), middle_padding=False)
    minilm.set_attn_implementation("eager")  # a packed row under ordinary attention would mix items
    with pytest.raises(RuntimeError, match="enable_packing"):
        packed_hidden(minilm, ids, mask)


@pytest.mark.parametrize("name", ["mlc", "lookahead_mlm"])
def test_routers_score_the_same_packed_or_not(queries, name):
    """The routers' own batches (collate, MID spans) through both paths, same weights."""
    router = build_router(name, RouterContext(models=POOL, profile="smoke", seed=0,
                                              options={"backbone": "minilm"}))
    router.init_untrained()
    router.model.eval()
    assert uses_packing(router.model)
    packed = router.predict(queries.queries())
    for part in router.model.modules():
        if hasattr(part, "packed"):
            part.packed = False
    assert not uses_packing(router.model)
    padded = router.predict(queries.queries())
    np.testing.assert_allclose(packed, padded, atol=1e-4)
    off = build_router(name, RouterContext(models=POOL, profile="smoke", seed=0,
                                           options={"backbone": "minilm", "packed": "false"}))
    off.init_untrained()
    assert not uses_packing(off.model)
    assert "packed" not in router.config()  # speed only: fold routers cached either way stay valid
