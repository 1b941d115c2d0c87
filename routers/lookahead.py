"""Lookahead routers: predict a latent representation of each candidate's response, route from it.

``lookahead_mlm`` (masked-LM backbone; paper notes section 5). Joint layout, one sequence per item:

    [CLS] x [SEP]  span_1 (m positions) [SEP]  ...  span_T (m positions) [SEP]

A span holds candidate t's real response tokens where they are not masked and MID_t where they
are: MID_t *is* the mask token (one per candidate; by default the backbone's unused vocabulary
entries ``[unused0]``..., their rows drawn apart first: ``mid_init``). Span positions are numbered
straight through, as the released training does (``span_positions=restart`` starts every span right
after the query, the released SDPA path and this module's default before). L_resp is the cross-entropy
of the masked tokens of the first m response tokens, all candidates jointly; the routing head reads
the [CLS] state (dense, GELU, LayerNorm, dropout, Linear(d, T)) with BCE on the binary labels.
Curriculum: a span masks max(floor(len(y_t) * rate), 1) tokens from its end, rate growing linearly
from ``curriculum_start`` to 1 over the first ``curriculum_alpha`` of training. At inference every
span position is MID_t, so no response is needed. Loss = L_route + lam * L_resp.

``lookahead_clm`` (causal-LM backbone) lives in :mod:`routers.lookahead_clm` and shares this module's
MID-token and tokenisation helpers.

Ablations (registered variants; each is also an option of the base routers):
``lookahead_mlm_nolm`` (lam=0: spans are always fully MID, no response modeling),
``lookahead_mlm_nocurr`` (full masking from the first step), ``lookahead_mlm_startmask`` (mask from
the start of the span), ``lookahead_mlm_randmask`` (random positions), ``lookahead_mlm_separate``
(one sequence per candidate: x, one ID token, m [MASK] positions; the released ``mask.py`` model).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.core.errors import HarnessError
from routers import register_router
from routers.backbones import load_model, load_tokenizer
from routers.base import RouterContext, RoutingData
from routers.labels import binary_labels
from routers.layouts import SPAN_POSITIONS
from routers.neural import TorchRouter
from routers.packing import enable_packing, packed_hidden
from routers.trainer import Example


def curriculum_rate(progress: float, start: float, alpha: float) -> float:
    """Share of each span to mask at training progress in [0, 1]: linear from start to 1 over alpha."""
    if alpha <= 0:
        return 1.0
    return float(min(1.0, start + (1.0 - start) * progress / alpha))


def masked_count(length: int, rate: float) -> int:
    return 0 if length == 0 else min(length, max(int(math.floor(length * rate)), 1))


def mask_positions(length: int, rate: float, mode: str, rng: np.random.Generator) -> np.ndarray:
    """Which of a span's ``length`` real response positions are masked (boolean array)."""
    n = masked_count(length, rate)
    masked = np.zeros(length, dtype=bool)
    if mode == "end":
        masked[length - n:] = True
    elif mode == "start":
        masked[:n] = True
    elif mode == "random":
        masked[rng.choice(length, n, replace=False)] = True
    else:
        raise ValueError(f"unknown masking mode {mode!r}")
    return masked


def tokenized_examples(tokenizer, data: RoutingData, train: bool, query_len: int,
                       response_len: int) -> list[Example]:
    """Query tokens (no special tokens), the candidates' truncated responses when training, labels."""
    queries = tokenizer(list(data.prompts), add_special_tokens=False, truncation=True,
                        max_length=query_len)["input_ids"]
    labels = None if data.scores is None else binary_labels(data.scores)
    examples = []
    for i, uid in enumerate(data.uids):
        features: dict[str, Any] = {"query": queries[i]}
        if train and data.responses is not None:
            features["responses"] = tokenizer(list(data.responses[i]), add_special_tokens=False, truncation=True,
                                              max_length=response_len)["input_ids"]
        if labels is not None:
            features["labels"] = labels[i]
        examples.append(Example(uid=uid, features=features, scores=None if data.scores is None else data.scores[i]))
    return examples


def _mlm_parts(model: nn.Module):
    """(encoder, token-prediction head) of a masked-LM model, so logits are computed only where needed."""
    if hasattr(model, "bert") and hasattr(model, "cls"):
        return model.bert, model.cls
    if hasattr(model, "model") and hasattr(model, "head") and hasattr(model, "decoder"):  # ModernBERT
        return model.model, lambda h: model.decoder(model.head(h))
    raise TypeError(f"unsupported masked-LM architecture {type(model).__name__}")


def spread_rows(embedding: torch.Tensor, ids: list[int], seed: int) -> None:
    """Give the rows ``ids`` of an embedding matrix their own draws from a Gaussian with the per-dimension
    mean and spread of the other rows, so they start as far apart as ordinary tokens."""
    others = torch.ones(embedding.shape[0], dtype=torch.bool)
    others[ids] = False
    with torch.no_grad():
        base = embedding[others].float()
        noise = torch.randn((len(ids), embedding.shape[1]), generator=torch.Generator().manual_seed(seed))
        embedding[ids] = (base.mean(0) + base.std(0) * noise).to(embedding.dtype)


def add_mid_tokens(model: nn.Module, tokenizer: Any, names: list[str], seed: int, init: str = "sampled") -> list[int]:
    """Add the special tokens ``names`` to tokenizer and embeddings; return their ids.

    ``init="sampled"`` gives each new row its own draw (:func:`spread_rows`). transformers' default
    (``"mean"``) puts every new row at almost exactly the mean embedding: MID tokens that start
    identical leave the router nothing to tell candidates apart by, and on the cpu budget (244 steps at
    lr 5e-5) they ended within 0.05 of each other against ~3.3 between ordinary tokens, so
    Lookahead-CLM routed every query to one model."""
    tokenizer.add_special_tokens({"additional_special_tokens": names})
    ids = tokenizer.convert_tokens_to_ids(names)
    if max(ids) >= model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(max(ids) + 1)
    if init == "sampled":
        spread_rows(model.get_input_embeddings().weight, ids, seed)
    return ids


class RoutingHead(nn.Module):
    """dense -> GELU -> LayerNorm -> dropout -> Linear(d, out)."""

    def __init__(self, d: int, out: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Dropout(dropout), nn.Linear(d, out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class MLMRouterModel(nn.Module):
    def __init__(self, backbone: str, n_models: int, separate: bool, packed: bool = True):
        super().__init__()
        from transformers import AutoModelForMaskedLM

        self.mlm = load_model(backbone, AutoModelForMaskedLM)
        self.encoder, self.token_head = _mlm_parts(self.mlm)
        d = self.mlm.config.hidden_size
        self.route = RoutingHead(d, 1 if separate else n_models)
        self.packed = packed and enable_packing(self.encoder)

    def hidden(self, input_ids, attention_mask, position_ids):
        if self.packed:
            return packed_hidden(self.encoder, input_ids, attention_mask, position_ids)
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                            position_ids=position_ids).last_hidden_state


@register_router("lookahead_mlm")
class LookaheadMLM(TorchRouter):
    families = ("classifier", "lookahead_mlm")
    # span_positions: runs before it was "straight" by default used "restart"; mid_init: runs before
    # the setting existed kept the [unused] rows as shipped ("asis")
    defaults: dict[str, Any] = {"mask_mode": "end", "curriculum": True, "separate": False,
                                "span_positions": "straight", "mid_tokens": "unused", "mid_init": "sampled"}

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        for key, value in self.defaults.items():
            self.settings.setdefault(key, value)
        if isinstance(self.settings["curriculum"], str):
            self.settings["curriculum"] = self.settings["curriculum"].lower() in ("1", "true", "yes")
        if isinstance(self.settings["separate"], str):
            self.settings["separate"] = self.settings["separate"].lower() in ("1", "true", "yes")
        self.settings.setdefault("max_response_len", self.settings["span"])
        for key, allowed in (("mid_init", ("sampled", "asis")), ("span_positions", SPAN_POSITIONS),
                             ("mid_tokens", ("unused", "new")), ("mask_mode", ("end", "start", "random"))):
            if self.settings[key] not in allowed:
                raise HarnessError(f"option {key}={self.settings[key]}: use one of {', '.join(allowed)}")
        self._rng = np.random.default_rng(ctx.seed)

    # ---- model and vocabulary ------------------------------------------------------------------
    def build(self) -> None:
        s = self.settings
        self.tokenizer = load_tokenizer(s["backbone"])
        torch.manual_seed(self.ctx.seed)
        self.model = MLMRouterModel(s["backbone"], len(self.models), s["separate"], s.get("packed", True))
        self._check_positions()
        self.mid_ids = self._mid_token_ids()

    def fresh_head_parameters(self) -> list:
        """The MLM head's own parameters (its decoder, tied to the input embeddings, left out): on MiniLM
        they are not in the checkpoint (no MLM head ships), so the head starts random; ModernBERT ships
        its head trained (the option then speeds up a trained head)."""
        mlm = self.model.mlm
        head = getattr(mlm, "cls", None) or getattr(mlm, "head", None)
        if head is None:
            return []
        tied = mlm.get_input_embeddings().weight
        return [p for p in head.parameters() if p is not tied]

    def _check_positions(self) -> None:
        """Straight span positions must fit the backbone's position table (MiniLM: 512)."""
        s, t = self.settings, len(self.models)
        spans = s["span"] + 2 if s["separate"] else (t * (s["span"] + 1) if s["span_positions"] == "straight"
                                                      else s["span"] + 1)
        limit = self.model.mlm.config.max_position_embeddings
        if s["max_query_len"] + spans > limit:
            raise HarnessError(f"lookahead_mlm: max_query_len {s['max_query_len']} + {spans} span positions "
                               f"({t} candidates, span={s['span']}, span_positions={s['span_positions']}) exceed "
                               f"the backbone's {limit} positions; lower max_query_len or span")

    def _mid_token_ids(self) -> list[int]:
        """MID_t: the backbone's unused vocabulary entries when it has them, else new special tokens.

        ``mid_init=sampled`` (default) re-draws the MID rows apart (:func:`spread_rows`): MiniLM's
        ``[unused0..4]`` were never trained apart (0.26 from each other against 1.57 between ordinary
        tokens, cosine 0.92 between their input states), and the separate-prediction layout, whose
        only sign of the candidate is its MID token, then routed everything to one candidate.
        ``mid_init=asis`` keeps the backbone's rows (runs before this setting existed)."""
        vocab = self.tokenizer.get_vocab()
        unused = [vocab.get(f"[unused{t}]") for t in range(len(self.models))]
        init = self.settings["mid_init"]
        if self.settings["mid_tokens"] == "unused" and all(i is not None for i in unused):
            if init == "sampled":
                spread_rows(self.model.mlm.get_input_embeddings().weight, unused, self.ctx.seed)
            return unused
        self.settings["mid_tokens"] = "new"
        return add_mid_tokens(self.model.mlm, self.tokenizer, [f"[MID_{t}]" for t in range(len(self.models))],
                              self.ctx.seed, "sampled" if init == "sampled" else "mean")

    # ---- examples --------------------------------------------------------------------------------
    def make_examples(self, data: RoutingData, train: bool) -> list[Example]:
        # [CLS] and [SEP] take two of the query's positions
        return tokenized_examples(self.tokenizer, data, train, self.settings["max_query_len"] - 2,
                                  self.settings["span"])

    def collate(self, examples: Sequence[Example], train: bool) -> dict[str, Any]:
        # masking depends on training progress, so the tensors are built in loss() / scores()
        return {"examples": list(examples), "train": train}

    def _layout(self, ex: Example, rate: float | None) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
        """Rows of (input ids, position ids, MLM labels) for one item: one row (joint) or T (separate).

        ``rate=None``: inference, every span position is MID_t."""
        s, tok = self.settings, self.tokenizer
        cls, sep = tok.cls_token_id, tok.sep_token_id
        m, query = s["span"], ex.features["query"]
        head = [cls, *query, sep]
        base = len(head)
        rows_ids, rows_pos, rows_lab = [], [], []
        ids, pos, lab = list(head), list(range(base)), [-100] * base
        for t, mid in enumerate(self.mid_ids):
            span_ids, span_lab = [mid] * m, [-100] * m
            response = ex.features.get("responses", [[]] * len(self.mid_ids))[t] if rate is not None else []
            if rate is not None and response:
                masked = mask_positions(len(response), rate, s["mask_mode"], self._rng)
                for j, token in enumerate(response):
                    if masked[j]:
                        span_lab[j] = token  # predicted at MID_t
                    else:
                        span_ids[j] = token  # shown as is
            if s["separate"]:
                # released mask.py: x, one ID token, m [MASK] positions; loss on the masked response
                mask_id = tok.mask_token_id
                sep_ids = [mid] + [mask_id if x == mid else x for x in span_ids] + [sep]
                rows_ids.append(head + sep_ids)
                rows_pos.append(list(range(base + m + 2)))
                rows_lab.append([-100] * (base + 1) + span_lab + [-100])
                continue
            start = base if s["span_positions"] == "restart" else len(ids)
            ids += span_ids + [sep]
            pos += list(range(start, start + m + 1))
            lab += span_lab + [-100]
        if not s["separate"]:
            rows_ids, rows_pos, rows_lab = [ids], [pos], [lab]
        return rows_ids, rows_pos, rows_lab

    def _tensors(self, examples: Sequence[Example], rate: float | None) -> dict[str, torch.Tensor]:
        rows = [self._layout(e, rate) for e in examples]
        flat_ids = [r for ids, _, _ in rows for r in ids]
        flat_pos = [r for _, pos, _ in rows for r in pos]
        flat_lab = [r for _, _, lab in rows for r in lab]
        width = max(len(r) for r in flat_ids)
        pad = self.tokenizer.pad_token_id
        n = len(flat_ids)
        ids = torch.full((n, width), pad, dtype=torch.long)
        pos = torch.zeros((n, width), dtype=torch.long)
        lab = torch.full((n, width), -100, dtype=torch.long)
        att = torch.zeros((n, width), dtype=torch.long)
        for r in range(n):
            k = len(flat_ids[r])
            ids[r, :k], pos[r, :k], lab[r, :k], att[r, :k] = (torch.tensor(flat_ids[r]), torch.tensor(flat_pos[r]),
                                                              torch.tensor(flat_lab[r]), 1)
        device = self.device
        return {"input_ids": ids.to(device), "position_ids": pos.to(device), "mlm_labels": lab.to(device),
                "attention_mask": att.to(device)}

    def _forward(self, model: MLMRouterModel, batch: dict[str, torch.Tensor], n_items: int):
        hidden = model.hidden(batch["input_ids"], batch["attention_mask"], batch["position_ids"])
        if self.settings["separate"]:
            id_pos = self._id_positions(batch)
            logits = model.route(hidden[torch.arange(hidden.size(0), device=hidden.device), id_pos]).view(
                n_items, len(self.models))
        else:
            logits = model.route(hidden[:, 0])
        return hidden, logits

    def _id_positions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Separate variant: the ID token sits right after [CLS] x [SEP]."""
        m = self.settings["span"]
        lengths = batch["attention_mask"].sum(dim=1)
        return lengths - m - 2

    def full_mask_progress(self) -> float:
        s = self.settings
        if not s["lam"] or not s["curriculum"] or s["curriculum_alpha"] <= 0:
            return 0.0
        return min(1.0, float(s["curriculum_alpha"]))  # curriculum_rate reaches 1 at progress alpha

    def rate(self, progress: float) -> float:
        s = self.settings
        if s["lam"] == 0:
            return 1.0  # no response modeling: responses are never shown (they are absent at test time)
        if not s["curriculum"]:
            return 1.0
        return curriculum_rate(progress, s["curriculum_start"], s["curriculum_alpha"])

    def loss(self, model, batch, progress):
        examples = batch["examples"]
        tensors = self._tensors(examples, self.rate(progress))
        hidden, logits = self._forward(model, tensors, len(examples))
        labels = torch.tensor(np.stack([e.features["labels"] for e in examples]), device=logits.device)
        routing = F.binary_cross_entropy_with_logits(logits, labels)
        lam = self.settings["lam"]
        targets = tensors["mlm_labels"]
        where = targets != -100
        if not (lam and where.any()):
            return routing, {"routing": routing.detach()}
        response = F.cross_entropy(model.token_head(hidden[where]), targets[where])
        return routing + lam * response, {"routing": routing.detach(), "response": response.detach()}

    def scores(self, model, batch):
        examples = batch["examples"]
        _, logits = self._forward(model, self._tensors(examples, None), len(examples))
        return logits


def _variant(name: str, **overrides: Any) -> None:
    """Register an ablation as its own router name with fixed option overrides."""

    def factory(ctx: RouterContext) -> LookaheadMLM:
        ctx.options = {**overrides, **ctx.options}
        router = LookaheadMLM(ctx)
        router.settings["variant"] = name
        return router

    register_router(name)(factory)


_variant("lookahead_mlm_nolm", lam=0.0)
_variant("lookahead_mlm_nocurr", curriculum=False)
_variant("lookahead_mlm_startmask", mask_mode="start")
_variant("lookahead_mlm_randmask", mask_mode="random")
_variant("lookahead_mlm_separate", separate=True)
