"""Mechanics of the Lookahead routers on tiny random configs (real tokenizers, real items)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core import store
from harness.core.errors import HarnessError
from harness.core.runner import routing_data
from routers import build_router
from routers.base import RouterContext
from routers.lookahead import curriculum_rate, mask_positions, masked_count

POOL = ["Yi-1.5-34B-Chat", "internlm2_5-20b-chat", "Qwen2.5-Coder-7B-Instruct"]


@pytest.fixture(scope="module")
def items():
    datas = {b: store.load(b, POOL) for b in ["gsm8k", "humaneval"]}
    return routing_data(datas, POOL)


def _router(name: str, **options):
    router = build_router(name, RouterContext(models=POOL, profile="smoke", seed=0, options=options))
    router.init_untrained()
    return router


def test_curriculum_schedule_and_masked_share():
    assert curriculum_rate(0.0, 0.0, 0.4) == 0.0
    assert curriculum_rate(0.2, 0.0, 0.4) == pytest.approx(0.5)
    assert curriculum_rate(0.4, 0.0, 0.4) == 1.0 and curriculum_rate(0.9, 0.3, 0.2) == 1.0
    assert curriculum_rate(0.1, 0.3, 0.2) == pytest.approx(0.65)
    rng = np.random.default_rng(0)
    for length, rate, expected in [(10, 0.0, 1), (10, 0.25, 2), (10, 0.99, 9), (10, 1.0, 10), (0, 0.5, 0)]:
        assert masked_count(length, rate) == expected
        masked = mask_positions(length, rate, "end", rng)
        assert masked.sum() == expected and (expected == 0 or masked[-expected:].all())
    assert mask_positions(10, 0.3, "start", rng)[:3].all()
    assert mask_positions(10, 0.3, "random", rng).sum() == 3


def test_mlm_loss_covers_exactly_the_masked_mid_positions(items):
    router = _router("lookahead_mlm")
    example = router.make_examples(items.subset([0]), train=True)[0]
    for rate in (0.0, 0.5, 1.0):
        (ids,), (pos,), (labels,) = router._layout(example, rate)
        ids, labels = np.array(ids), np.array(labels)
        m = router.settings["span"]
        base = len(example.features["query"]) + 2
        for t, mid in enumerate(router.mid_ids):
            span = slice(base + t * (m + 1), base + t * (m + 1) + m)
            response = example.features["responses"][t]
            n_masked = masked_count(len(response), rate)
            # loss positions are the masked real tokens: they hold MID_t and carry the true token
            assert (labels[span] != -100).sum() == n_masked
            assert (ids[span][labels[span] != -100] == mid).all()
            assert (labels[span][labels[span] != -100] == np.array(response)[len(response) - n_masked:]).all()
            # positions past a short response are MID_t without loss
            assert (ids[span][len(response):] == mid).all() and (labels[span][len(response):] == -100).all()
        # span positions are numbered straight through (the released training; restart is an option)
        assert pos[base] == base and pos[base + m + 1] == base + m + 1
    (ids,), _, (labels,) = router._layout(example, None)
    assert (np.array(labels) == -100).all()  # inference: every span position is MID_t, no labels
    assert set(ids[base:]) <= set(router.mid_ids) | {router.tokenizer.sep_token_id}


def test_mid_tokens_are_trained(items):
    router = build_router("lookahead_mlm", RouterContext(models=POOL, profile="smoke", seed=0,
                                                         options={"max_train_items": 24, "epochs": 1}))
    router.build()
    before = router.model.mlm.get_input_embeddings().weight[router.mid_ids].detach().clone()
    router.fit(items)
    after = router.model.mlm.get_input_embeddings().weight[router.mid_ids].detach()
    assert router.settings["mid_tokens"] == "unused"
    assert router.tokenizer.convert_ids_to_tokens(router.mid_ids) == ["[unused0]", "[unused1]", "[unused2]"]
    # every MID row moved, and to finite values (a NaN row would also be "not allclose")
    assert torch.isfinite(after).all()
    assert ((after - before).abs().amax(dim=1) > 1e-6).all()


def test_clm_adds_new_mid_tokens(items):
    router = _router("lookahead_clm")
    names = router.tokenizer.convert_ids_to_tokens(router.mid_ids)
    assert names == ["<|mid_0|>", "<|mid_1|>", "<|mid_2|>"]
    assert router.model.lm.get_input_embeddings().weight.shape[0] == len(router.tokenizer)


@pytest.mark.parametrize("init", ["sampled", "mean"])
def test_new_mid_tokens_start_apart_unless_mean_initialised(init):
    """Sampled MID rows are as far apart as ordinary tokens; transformers' mean-resizing stacks them."""
    router = _router("lookahead_clm", mid_init=init)
    weight = router.model.lm.get_input_embeddings().weight.detach()
    mids = torch.cdist(weight[router.mid_ids], weight[router.mid_ids])
    mid_gap = mids[~torch.eye(len(router.mid_ids), dtype=torch.bool)].min()
    others = weight[torch.arange(100, 200)]
    typical = torch.cdist(others, others).sum() / (100 * 99)
    if init == "sampled":
        assert mid_gap > 0.5 * typical
    else:
        assert mid_gap < 0.01 * typical


def test_clm_joint_pass_isolates_mid_tokens(items):
    router = _router("lookahead_clm")
    model = router.model.eval()
    examples = router.make_examples(items.subset([0, 1500 % len(items)]), train=False)
    with torch.no_grad():
        joint, _, _ = router.joint_representations(model, examples)
        separate, _, _ = router.separate_representations(model, examples, with_responses=False)
        assert torch.allclose(joint, separate, atol=1e-5)  # same r_t for every t, not only t=1
        emb = model.lm.get_input_embeddings().weight
        for t in range(len(POOL)):
            saved = emb[router.mid_ids[t]].clone()
            emb[router.mid_ids[t]] += 1.0
            perturbed, _, _ = router.joint_representations(model, examples)
            emb[router.mid_ids[t]] = saved
            for s in range(len(POOL)):
                same = torch.allclose(perturbed[:, s], joint[:, s], atol=1e-6)
                assert same == (s != t), (t, s)


def test_clm_training_and_inference_representations_agree_for_one_candidate(items):
    router = _router("lookahead_clm")
    model = router.model.eval()
    examples = router.make_examples(items.subset([3]), train=True)
    with torch.no_grad():
        trained, _, _ = router.separate_representations(model, examples, with_responses=True)
        inferred, _, _ = router.joint_representations(model, examples)
    # causal attention: the response after MID_t cannot change the state at MID_t
    assert torch.allclose(trained[:, 0], inferred[:, 0], atol=1e-5)


def test_clm_joint_training_pass_equals_the_separate_sequences(items):
    """Training encodes x once for all T blocks: same r_t, response states, loss and gradients as the
    released T sequences x ‖ MID_t ‖ y_t."""
    router = _router("lookahead_clm")
    model = router.model.train()
    examples = router.make_examples(items.subset([0, 5, 1500 % len(items)]), train=True)
    assert all(len(r) > 1 for e in examples for r in e.features["responses"])
    results = {}
    for mode in ("joint", "separate"):
        router.settings["clm_training"] = mode
        model.zero_grad()
        torch.manual_seed(0)  # the scorer's dropout draws the same mask in both layouts
        loss, _ = router.loss(model, {"examples": examples, "train": True}, 0.5)  # (loss, logged parts)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        with torch.no_grad():
            r, hidden, spans = getattr(router, f"{mode}_representations")(model.eval(), examples, with_responses=True)
            model.train()
            states = torch.stack([hidden[row, col + len(resp)] for row, col, resp in spans])
        results[mode] = (loss.detach(), grads, r, states)
    (loss_j, grad_j, r_j, last_j), (loss_s, grad_s, r_s, last_s) = results["joint"], results["separate"]
    assert torch.allclose(loss_j, loss_s, atol=1e-5)
    assert torch.allclose(r_j, r_s, atol=1e-5) and torch.allclose(last_j, last_s, atol=1e-5)
    assert grad_j.keys() == grad_s.keys()
    for name in grad_j:
        assert torch.allclose(grad_j[name], grad_s[name], atol=1e-5, rtol=1e-3), name
    # the query is encoded once: one row per item instead of T
    assert len({row for row, _, _ in router.joint_representations(model, examples, True)[2]}) == len(examples)


@pytest.mark.parametrize("name", ["lookahead_mlm", "lookahead_mlm_separate", "lookahead_clm"])
def test_scores_shape_and_determinism(items, name):
    sub = items.subset(np.arange(0, len(items), 7))
    outputs = []
    for _ in range(2):
        router = build_router(name, RouterContext(models=POOL, profile="smoke", seed=3,
                                                  options={"max_train_items": 24}))
        router.fit(sub)
        outputs.append(router.predict(sub.subset(np.arange(10)).queries()))
    assert outputs[0].shape == (10, len(POOL))
    assert np.array_equal(np.argmax(outputs[0], 1), np.argmax(outputs[1], 1))


def test_clm_rejects_unknown_option_values():
    for key in ("mid_init", "clm_inference", "clm_training"):
        with pytest.raises(HarnessError, match=f"option {key}=bogus"):
            build_router("lookahead_clm", RouterContext(models=POOL, profile="smoke", seed=0, options={key: "bogus"}))


def test_modernbert_new_mid_tokens_reach_the_tied_decoder():
    """The paper profile's ModernBERT has no [unusedN] entries: MID_t are new rows of the embedding and
    of the tied decoder, and _mlm_parts scores them (a tiny random ModernBERT, MiniLM's tokenizer)."""
    from transformers import AutoModelForMaskedLM, ModernBertConfig

    from routers.backbones import load_tokenizer
    from routers.lookahead import _mlm_parts, add_mid_tokens

    tokenizer = load_tokenizer("minilm")
    vocab = len(tokenizer)
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_config(ModernBertConfig(
        vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id))
    ids = add_mid_tokens(model, tokenizer, [f"[MID_{t}]" for t in range(len(POOL))], seed=0)
    assert ids == list(range(vocab, vocab + len(POOL)))
    embeddings = model.get_input_embeddings().weight
    encoder, token_head = _mlm_parts(model)
    assert embeddings.shape[0] == len(tokenizer) == vocab + len(POOL)
    assert model.decoder.weight.data_ptr() == embeddings.data_ptr()  # still tied after the resize
    rows = embeddings[ids].detach()
    assert torch.cdist(rows, rows)[~torch.eye(len(ids), dtype=torch.bool)].min() > 0.1
    text = tokenizer("two plus two", return_tensors="pt")["input_ids"][0].tolist()
    input_ids = torch.tensor([text[:-1] + ids + text[-1:]])
    hidden = encoder(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).last_hidden_state
    logits = token_head(hidden)
    assert logits.shape == (1, input_ids.shape[1], len(tokenizer))
    assert torch.isfinite(logits).all()


def test_token_head_lr_scale_puts_the_mlm_heads_own_parameters_in_a_faster_group():
    """OPTIONS=token_head_lr_scale=k: the MLM head's transform and bias (MiniLM ships none, so they start
    random) train at k x lr; the decoder tied to the input embeddings, and everything else, at lr."""
    import torch

    from routers.trainer import param_groups

    router = _router("lookahead_mlm")
    router.build()
    fresh = router.fresh_head_parameters()
    tied = router.model.mlm.get_input_embeddings().weight
    names = {id(p): n for n, p in router.model.named_parameters()}
    assert fresh and all(id(p) != id(tied) for p in fresh)
    assert {names[id(p)].split(".")[1] for p in fresh} == {"cls"}
    assert param_groups(router.model, fresh, 1e-4, 1.0) == [p for p in router.model.parameters() if p.requires_grad]
    slow, fast = param_groups(router.model, fresh, 1e-4, 20.0)
    assert fast["lr"] == pytest.approx(2e-3) and "lr" not in slow
    assert {id(p) for p in fast["params"]} == {id(p) for p in fresh if p.requires_grad}
    assert len(slow["params"]) + len(fast["params"]) == sum(1 for p in router.model.parameters() if p.requires_grad)
    assert any(p is tied for p in slow["params"]) and isinstance(fast["params"][0], torch.nn.Parameter)
    assert _router("lookahead_clm").fresh_head_parameters() == []  # SmolLM2's head is its tied embeddings
