"""Classifier routers on a fine-tuned backbone: MLC, ZOOTER and RouterDC.

All three encode the query alone (first turn, truncated to ``max_query_len`` tokens) and differ in
their head and loss (method cards, sections 4-5):

- ``mlc``: T logits from the pooled state, binary cross-entropy on the binary labels.
- ``zooter``: T logits; forward KL(p || softmax(logits)) with p = softmax(s / kl_temperature), s the
  per-item min-max normalized scores.
- ``routerdc``: score_t = cos(E(x), k_t) with learnable model embeddings k_t ~ N(0, 0.78^2); the
  sample-LLM contrastive loss (top-3 positives, bottom-3 negatives excluding scores > 0.5, a term
  zeroed when its positive scores <= 0) plus the sample-sample cluster loss (positive: a batchmate
  of the same cluster, 3 negatives from other clusters; clusters: k-means over the untrained
  encoder's query embeddings — the original's t-SNE step is left out, see the README).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from routers import register_router
from routers.backbones import load_model, load_tokenizer, spec
from routers.base import RoutingData
from routers.labels import binary_labels, per_item_normalized
from routers.neural import TorchRouter
from routers.packing import enable_packing, packed_hidden
from routers.trainer import Example


class PooledEncoder(nn.Module):
    """Backbone + pooling: [CLS] (first token) for encoders, the last real token for causal LMs."""

    def __init__(self, backbone_name: str, num_layers: int | None = None, packed: bool = True):
        super().__init__()
        from transformers import AutoModel

        self.causal = spec(backbone_name).kind == "causal"
        self.backbone = load_model(backbone_name, AutoModel)
        if num_layers:  # CPU profile: keep the first layers only (documented cost)
            self.backbone.layers = self.backbone.layers[:num_layers]
            self.backbone.config.num_hidden_layers = num_layers
        self.hidden_size = self.backbone.config.hidden_size
        self.packed = packed and enable_packing(self.backbone)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.packed:
            hidden = packed_hidden(self.backbone, input_ids, attention_mask)
        else:
            hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.causal:
            last = attention_mask.sum(dim=1) - 1
            return hidden[torch.arange(hidden.size(0), device=hidden.device), last]
        return hidden[:, 0]


class LogitHead(nn.Module):
    def __init__(self, encoder: PooledEncoder, n_models: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(encoder.hidden_size, n_models)

    def forward(self, input_ids, attention_mask):
        return self.out(self.dropout(self.encoder(input_ids, attention_mask)))


class QueryClassifier(TorchRouter):
    """Common parts: tokenize the query, pad dynamically, one forward pass per batch."""

    families = ("classifier",)

    def build(self) -> None:
        self.tokenizer = load_tokenizer(self.settings["backbone"])
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch.manual_seed(self.ctx.seed)
        self.model = self.build_head(PooledEncoder(self.settings["backbone"], self.settings.get("num_layers"),
                                                   self.settings.get("packed", True)))

    def build_head(self, encoder: PooledEncoder) -> nn.Module:
        return LogitHead(encoder, len(self.models))

    def make_examples(self, data: RoutingData, train: bool) -> list[Example]:
        enc = self.tokenizer(list(data.prompts), truncation=True, max_length=self.settings["max_query_len"])
        examples = []
        for i, uid in enumerate(data.uids):
            features: dict[str, Any] = {"input_ids": enc["input_ids"][i]}
            scores = None if data.scores is None else data.scores[i]
            examples.append(Example(uid=uid, features=features, scores=scores))
        if data.scores is not None:
            labels = binary_labels(data.scores)
            normalized = per_item_normalized(data.scores)
            for e, lab, norm in zip(examples, labels, normalized):
                e.features["labels"], e.features["normalized"] = lab, norm
        return examples

    def collate(self, examples: Sequence[Example], train: bool) -> dict[str, Any]:
        width = max(len(e.features["input_ids"]) for e in examples)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(examples), width), pad, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, e in enumerate(examples):
            tokens = e.features["input_ids"]
            ids[row, :len(tokens)] = torch.tensor(tokens)
            mask[row, :len(tokens)] = 1
        batch: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "labels" in examples[0].features:
            batch["labels"] = torch.tensor(np.stack([e.features["labels"] for e in examples]))
            batch["normalized"] = torch.tensor(np.stack([e.features["normalized"] for e in examples]),
                                               dtype=torch.float32)
        return batch

    def scores(self, model, batch):
        return model(batch["input_ids"], batch["attention_mask"])


@register_router("mlc")
class MLC(QueryClassifier):
    """Multi-label classifier: one sigmoid per candidate, BCE on the binary labels."""

    def loss(self, model, batch, progress):
        return F.binary_cross_entropy_with_logits(self.scores(model, batch), batch["labels"])


@register_router("zooter")
class Zooter(QueryClassifier):
    """ZOOTER: distil the softmax of the (normalized) scores with a forward KL loss."""

    families = ("classifier", "zooter")

    def loss(self, model, batch, progress):
        target = F.softmax(batch["normalized"] / self.settings["kl_temperature"], dim=-1)
        log_q = F.log_softmax(self.scores(model, batch), dim=-1)
        return F.kl_div(log_q, target, reduction="batchmean")


class CosineHead(nn.Module):
    """RouterDC: cosine between the query embedding and learnable model embeddings (tau = 1)."""

    def __init__(self, encoder: PooledEncoder, n_models: int):
        super().__init__()
        self.encoder = encoder
        self.model_embeddings = nn.Parameter(torch.randn(n_models, encoder.hidden_size) * 0.78)

    def embed(self, input_ids, attention_mask):
        return self.encoder(input_ids, attention_mask)

    def forward(self, input_ids, attention_mask):
        query = F.normalize(self.embed(input_ids, attention_mask), dim=-1)
        return query @ F.normalize(self.model_embeddings, dim=-1).T


def sample_llm_loss(logits: torch.Tensor, scores: torch.Tensor, top_k: int, last_k: int) -> torch.Tensor:
    """RouterDC's sample-LLM contrastive loss (sum over the top_k positives, mean over the batch)."""
    order = torch.argsort(scores, dim=1, descending=True)
    negatives = order[:, -last_k:]
    neg_ok = torch.gather(scores, 1, negatives) <= 0.5  # a candidate scoring > 0.5 is never a negative
    neg_logits = torch.gather(logits, 1, negatives).masked_fill(~neg_ok, float("-inf"))
    total = logits.new_zeros(())
    for k in range(min(top_k, logits.size(1))):
        pos = order[:, k:k + 1]
        pos_logit = torch.gather(logits, 1, pos)
        # the positive may also be among the negatives (T=5): it appears in both terms, as in the original
        denom = torch.logsumexp(torch.cat([pos_logit, neg_logits], dim=1), dim=1)
        term = denom - pos_logit.squeeze(1)
        active = (torch.gather(scores, 1, pos).squeeze(1) > 0).float()
        total = total + (term * active).mean()  # zeroed rows still count in the mean
    return total


def cluster_loss(embeddings: torch.Tensor, clusters: torch.Tensor, negatives: int,
                 generator: torch.Generator) -> torch.Tensor:
    """Sample-sample loss: a same-cluster batchmate as positive against other-cluster batchmates."""
    normed = F.normalize(embeddings, dim=-1)
    sims = normed @ normed.T
    losses = []
    for i in range(len(clusters)):
        same = torch.nonzero(clusters == clusters[i]).flatten()
        other = torch.nonzero(clusters != clusters[i]).flatten()
        if len(other) == 0:
            continue
        pos = same[torch.randint(len(same), (1,), generator=generator)]
        neg = other[torch.randperm(len(other), generator=generator)[:negatives]]
        logits = torch.cat([sims[i, pos], sims[i, neg]])
        losses.append(-F.log_softmax(logits, dim=0)[0])
    return torch.stack(losses).mean() if losses else embeddings.new_zeros(())


@register_router("routerdc")
class RouterDC(QueryClassifier):
    families = ("classifier", "routerdc")

    def build_head(self, encoder: PooledEncoder) -> nn.Module:
        return CosineHead(encoder, len(self.models))

    def prepare_training(self, examples: list[Example]) -> None:
        """Offline clusters of the training queries from the untrained encoder's embeddings."""
        from sklearn.cluster import KMeans

        emb = []
        from routers.trainer import model_device, to_device

        with torch.no_grad():
            self.model.eval()
            for start in range(0, len(examples), 64):
                batch = to_device(self.collate(examples[start:start + 64], False), model_device(self.model))
                emb.append(self.model.embed(batch["input_ids"], batch["attention_mask"]).float().cpu().numpy())
        emb = np.concatenate(emb)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12
        k = min(self.settings["n_clusters"], len(examples))
        labels = KMeans(n_clusters=k, random_state=self.ctx.seed, n_init=1).fit_predict(emb)
        for e, c in zip(examples, labels):
            e.features["cluster"] = int(c)
        self._generator = torch.Generator().manual_seed(self.ctx.seed)

    def collate(self, examples, train):
        batch = super().collate(examples, train)
        if train and "cluster" in examples[0].features:
            batch["cluster"] = torch.tensor([e.features["cluster"] for e in examples])
        return batch

    def loss(self, model, batch, progress):
        s = self.settings
        embeddings = model.embed(batch["input_ids"], batch["attention_mask"])
        logits = F.normalize(embeddings, dim=-1) @ F.normalize(model.model_embeddings, dim=-1).T
        loss = sample_llm_loss(logits, batch["normalized"], s["top_k"], s["last_k"])
        if "cluster" in batch and s["cluster_weight"]:
            loss = loss + s["cluster_weight"] * cluster_loss(embeddings, batch["cluster"], s["negatives"],
                                                             self._generator)
        return loss
