"""``lookahead_clm`` (causal-LM backbone): one new special token MID_t per candidate. Training models
x ‖ MID_t ‖ y_t for every t with next-token loss on y_t; r_t is the hidden state at MID_t; one
shared scorer (dropout 0.1, Linear(d, 1)) turns each r_t into a routing logit (BCE), lam = 0.5.
Training and inference are one pass over x ‖ MID_1 [y_1] ‖ … ‖ MID_T [y_T] with an attention mask
that lets each block see the query and itself only, its positions starting at |x|: every state is
the one of the separate sequence x ‖ MID_t ‖ y_t, with the query encoded once instead of T times
(``clm_training=separate`` / ``clm_inference=separate`` run the released T sequences instead; the
tests check that both give the same states and losses).

Its backbone's first layers alone (the old cpu profile's ``num_layers=4``) start the response loss
worse than uniform and fail the known-answer check; the small and cpu profiles now train all layers
(``train_layers`` trains only the top ones; too few fail the check too: results/diagnostics.md).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.core.errors import HarnessError
from routers import register_router
from routers.backbones import load_model, load_tokenizer
from routers.base import RouterContext, RoutingData
from routers.lookahead import add_mid_tokens, tokenized_examples
from routers.neural import TorchRouter
from routers.trainer import Example


def freeze_below(lm: nn.Module, train_layers: int) -> None:
    """Train only the top ``train_layers`` decoder layers, the final norm and the heads: the
    embeddings (tied to the LM head; the MID rows stay as drawn apart) and the lower layers keep
    their pretrained weights, so the backward pass stops at the first trained layer. It keeps the
    pretrained LM whole (response loss ~3.4 nats at the start, where a cut to the first layers starts
    worse than uniform) for about half the all-layer step, but with the top 4 of 30 trained the router
    fails the known-answer check (results/diagnostics.md): an option, in no profile."""
    layers = lm.model.layers
    for module in [lm.model.embed_tokens, *layers[:max(0, len(layers) - train_layers)]]:
        for p in module.parameters():
            p.requires_grad_(False)


class CLMRouterModel(nn.Module):
    def __init__(self, backbone: str, n_models: int, num_layers: int | None, vocab_size: int | None,
                 train_layers: int | None = None):
        super().__init__()
        from transformers import AutoModelForCausalLM

        self.lm = load_model(backbone, AutoModelForCausalLM, vocab_size=vocab_size)
        if num_layers:  # keep the first layers only (the old cpu profile: see profiles.py)
            self.lm.model.layers = self.lm.model.layers[:num_layers]
            self.lm.config.num_hidden_layers = num_layers
        if train_layers is not None:
            freeze_below(self.lm, train_layers)
        self.scorer = nn.Sequential(nn.Dropout(0.1), nn.Linear(self.lm.config.hidden_size, 1))

    def hidden(self, input_ids, attention_mask, position_ids=None):
        return self.lm.model(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=position_ids).last_hidden_state


@register_router("lookahead_clm")
class LookaheadCLM(TorchRouter):
    families = ("classifier", "lookahead_clm")

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        self.settings.setdefault("clm_inference", "joint")
        # runs before this setting existed trained on T separate sequences (same losses, T times the query)
        self.settings.setdefault("clm_training", "joint")
        self.settings.setdefault("mid_init", "sampled")  # runs before this setting existed used "mean"
        for key, allowed in (("clm_inference", ("joint", "separate")), ("clm_training", ("joint", "separate")),
                             ("mid_init", ("sampled", "mean"))):
            if self.settings[key] not in allowed:
                raise HarnessError(f"option {key}={self.settings[key]}: use one of {', '.join(allowed)}")

    def build(self) -> None:
        s = self.settings
        self.tokenizer = load_tokenizer(s["backbone"])
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch.manual_seed(self.ctx.seed)
        self.model = CLMRouterModel(s["backbone"], len(self.models), s.get("num_layers"), vocab_size=None,
                                    train_layers=s.get("train_layers"))
        self.mid_ids = add_mid_tokens(self.model.lm, self.tokenizer, [f"<|mid_{t}|>" for t in range(len(self.models))],
                                      self.ctx.seed, s["mid_init"])

    def make_examples(self, data: RoutingData, train: bool) -> list[Example]:
        return tokenized_examples(self.tokenizer, data, train, self.settings["max_query_len"],
                                  self.settings["max_response_len"])

    def joint_fits(self, examples: Sequence[Example], with_responses: bool) -> bool:
        """Whether the joint pass's dense (n, 1, W, W) mask stays under ``joint_mask_mb``; past it the
        batch runs as T separate sequences (same states and losses, the query encoded T times). At the
        paper's 2048-token responses the mask alone is ~0.6 GB per item."""
        cap = self.settings.get("joint_mask_mb")
        if not cap:
            return True
        width = max(len(e.features["query"]) + len(self.mid_ids)
                    + (sum(len(r) for r in e.features["responses"]) if with_responses else 0) for e in examples)
        return len(examples) * width * width * 4 / 2**20 <= cap

    def collate(self, examples: Sequence[Example], train: bool) -> dict[str, Any]:
        return {"examples": list(examples), "train": train}

    def _pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        att = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)], att[i, :len(r)] = torch.tensor(r), 1
        return ids.to(self.device), att.to(self.device)

    def separate_representations(self, model: CLMRouterModel, examples: Sequence[Example],
                                 with_responses: bool) -> tuple[torch.Tensor, torch.Tensor, list]:
        """r (n, T, d) from T sequences x ‖ MID_t [‖ y_t] (the released layout); also the hidden states
        and, per (item, t), the (row, MID_t column, response) of that candidate's block."""
        rows, spans = [], []
        for e in examples:
            for t, mid in enumerate(self.mid_ids):
                response = e.features["responses"][t] if with_responses else []
                spans.append((len(rows), len(e.features["query"]), response))
                rows.append([*e.features["query"], mid, *response])
        ids, att = self._pad(rows)
        hidden = model.hidden(ids, att)
        mid_pos = torch.tensor([col for _, col, _ in spans], device=hidden.device)
        r = hidden[torch.arange(len(rows), device=hidden.device), mid_pos].view(len(examples), len(self.mid_ids), -1)
        return r, hidden, spans

    def joint_representations(self, model: CLMRouterModel, examples: Sequence[Example],
                              with_responses: bool = False) -> tuple[torch.Tensor, torch.Tensor, list]:
        """r (n, T, d) from one pass over x ‖ MID_1 [y_1] ‖ … ‖ MID_T [y_T], plus hidden states and,
        per (item, t), the MID_t column and the response. Block t sees the query and, causally, itself
        only, at positions |x|, |x|+1, …: each state equals its value in the separate sequence
        x ‖ MID_t ‖ y_t (the tests check it), but the query is encoded once instead of T times."""
        rows, spans, segments = [], [], []
        for e in examples:
            query = e.features["query"]
            row, seg, positions = list(query), [0] * len(query), list(range(len(query)))
            for t, mid in enumerate(self.mid_ids):
                block = [mid, *(e.features["responses"][t] if with_responses else [])]
                spans.append((len(rows), len(row), block[1:]))
                row += block
                seg += [t + 1] * len(block)
                positions += range(len(query), len(query) + len(block))
            rows.append(row)
            segments.append((seg, positions))
        ids, _ = self._pad(rows)
        width = ids.size(1)
        seg = torch.full((len(rows), width), -1, dtype=torch.long)
        positions = torch.arange(width).repeat(len(rows), 1)  # padding: its own index, never read
        for i, (s, p) in enumerate(segments):
            seg[i, :len(s)], positions[i, :len(p)] = torch.tensor(s), torch.tensor(p)
        causal = torch.tril(torch.ones(width, width, dtype=torch.bool))
        key, query_seg = seg.unsqueeze(1), seg.unsqueeze(2)
        allowed = causal & (key != -1) & ((key == 0) | (key == query_seg))
        allowed |= torch.eye(width, dtype=torch.bool)  # padding sees itself, so no row is empty
        dtype = next(model.parameters()).dtype
        mask = torch.zeros((len(rows), 1, width, width), dtype=dtype)
        mask.masked_fill_(~allowed.unsqueeze(1), torch.finfo(dtype).min)
        hidden = model.hidden(ids, mask.to(ids.device), positions.to(ids.device))
        n_mid = len(self.mid_ids)
        index = torch.tensor([col for _, col, _ in spans], device=ids.device).view(len(rows), n_mid)
        r = hidden[torch.arange(len(rows), device=ids.device).unsqueeze(1), index]
        return r, hidden, spans

    def loss(self, model, batch, progress):
        examples = batch["examples"]
        joint = self.settings["clm_training"] == "joint" and self.joint_fits(examples, True)
        represent = self.joint_representations if joint else self.separate_representations
        r, hidden, spans = represent(model, examples, with_responses=True)
        logits = model.scorer(r).squeeze(-1)
        labels = torch.tensor(np.stack([e.features["labels"] for e in examples]), device=logits.device)
        routing = F.binary_cross_entropy_with_logits(logits, labels)
        # next-token loss on y_t: the state at MID_t predicts y_0, the state at y_j predicts y_{j+1}
        rows, cols, targets = [], [], []
        for row, mid_pos, response in spans:
            for j, token in enumerate(response):
                rows.append(row)
                cols.append(mid_pos + j)
                targets.append(token)
        lam = self.settings["lam"]
        if not (targets and lam):
            return routing, {"routing": routing.detach()}
        dev = hidden.device
        token_logits = model.lm.lm_head(hidden[torch.tensor(rows, device=dev), torch.tensor(cols, device=dev)])
        response = F.cross_entropy(token_logits.float(), torch.tensor(targets, device=dev))
        return routing + lam * response, {"routing": routing.detach(), "response": response.detach()}

    def scores(self, model, batch):
        examples = batch["examples"]
        if self.settings["clm_inference"] == "separate" or not self.joint_fits(examples, False):
            r, _, _ = self.separate_representations(model, examples, with_responses=False)
        else:
            r, _, _ = self.joint_representations(model, examples)
        return model.scorer(r).squeeze(-1)
