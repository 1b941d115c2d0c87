"""Shared base of the learned torch routers (MLC, ZOOTER, RouterDC, Lookahead).

It owns what every such router does the same way: resolving the profile's settings, choosing and
splitting the training items, calling the shared trainer, batched prediction, saving / loading a
fitted router, and the cost hooks. A subclass only says how to build its model, turn items into
examples, collate them, and compute its loss and its routing scores.
"""
from __future__ import annotations

import functools
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.core.errors import HarnessError
from routers import profiles
from routers.base import Router, RouterContext, RoutingData
from routers.labels import informative
from routers.packing import uses_packing
from routers.trainer import Example, TrainHistory, predict, set_seed, smoothed_min, train


def training_split(data: RoutingData, settings: dict[str, Any], seed: int,
                   carve_valid: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, valid) of informative items, capped per benchmark, seeded."""
    rng = np.random.default_rng([seed, 17])
    keep = np.flatnonzero(informative(data.scores))
    cap = settings.get("cap_per_benchmark")
    if cap:
        labels = np.asarray(data.benchmarks)[keep]
        parts = []
        for name in sorted(set(labels)):
            members = keep[labels == name]
            parts.append(members if len(members) <= cap else np.sort(rng.choice(members, cap, replace=False)))
        keep = np.concatenate(parts)
    limit = settings.get("max_train_items")
    if limit and len(keep) > limit:
        keep = np.sort(rng.choice(keep, limit, replace=False))
    if not carve_valid:
        return keep, np.array([], dtype=np.int64)
    shuffled = rng.permutation(keep)
    n_valid = max(1, int(round(len(keep) * settings.get("valid_fraction", 0.1))))
    return np.sort(shuffled[n_valid:]), np.sort(shuffled[:n_valid])


def position_frequency_loss(examples: Sequence[Example]) -> float | None:
    """The response loss of predicting each response token from its position alone (nats/token).

    The plug-in conditional entropy H(token | position) of the training items' truncated responses:
    what a response objective reaches by learning token frequencies per position, without reading the
    query. A response loss that never falls below it never beat this query-free predictor. None when the
    examples carry no responses."""
    counts: dict[int, dict[int, int]] = {}
    for ex in examples:
        for response in ex.features.get("responses") or []:
            for j, token in enumerate(response):
                at = counts.setdefault(j, {})
                at[token] = at.get(token, 0) + 1
    total = sum(sum(at.values()) for at in counts.values())
    if not total:
        return None
    nats = 0.0
    for at in counts.values():
        n = np.array(list(at.values()), dtype=float)
        nats -= float((n * np.log(n / n.sum())).sum())
    return nats / total


def _device(name: str | None):
    """The ``device`` setting, else CUDA when present, else the CPU."""
    import torch

    from harness.core import distributed

    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", distributed.local_rank())  # one GPU per process under torchrun
    return torch.device("cpu")


class TorchRouter(Router):
    learns = True
    families: tuple[str, ...] = ("classifier",)

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        if len(self.models) < 2:
            raise HarnessError(f"a pool needs at least two models, got {len(self.models)}")
        self.settings = profiles.settings(ctx.profile, *self.families, options=ctx.options)
        self.model = None
        self.tokenizer = None
        self.history: TrainHistory | None = None
        self.frequency_loss: float | None = None  # position_frequency_loss of the training responses
        self.device = _device(self.settings.get("device"))

    # ---- what a subclass provides -------------------------------------------------------------
    def build(self) -> None:
        """Create ``self.tokenizer`` and ``self.model`` (pretrained backbone, fresh head)."""
        raise NotImplementedError

    def make_examples(self, data: RoutingData, train: bool) -> list[Example]:
        raise NotImplementedError

    def collate(self, examples: Sequence[Example], train: bool) -> dict[str, Any]:
        raise NotImplementedError

    def loss(self, model, batch: dict[str, Any], progress: float):
        raise NotImplementedError

    def scores(self, model, batch: dict[str, Any]):
        raise NotImplementedError

    def fresh_head_parameters(self) -> list:
        """Parameters a token-prediction head starts without (not in the backbone's checkpoint), trained
        at ``token_head_lr_scale`` x lr when that option is set (default 1: one learning rate)."""
        return []

    def prepare_training(self, examples: list[Example]) -> None:
        """Hook run after the model is built and before training (e.g. RouterDC's clusters)."""

    # ---- shared --------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        # num_threads / device / packed change speed, not predictions: kept out so they do not key the caches
        return {"family": type(self).__name__, "profile": self.ctx.profile, "seed": self.ctx.seed,
                **{k: v for k, v in self.settings.items() if k not in profiles.SPEED_ONLY}}

    def _threads(self) -> None:
        import torch

        if self.settings.get("num_threads"):
            torch.set_num_threads(int(self.settings["num_threads"]))
        if self.device.type == "cuda" and self.settings.get("tf32"):
            torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matrix products on tensor cores
            torch.backends.cudnn.allow_tf32 = True

    def _precision(self) -> str:
        precision = self.settings.get("precision", "fp32")
        if precision not in ("fp32", "bf16"):
            raise HarnessError(f"option precision={precision}: use fp32 or bf16")
        if precision == "bf16" and self.device.type == "cpu":
            _warn_slow_cpu_bf16()
        return precision

    def _checkpoint(self) -> str:
        checkpoint = self.settings.get("checkpoint", "best")
        if checkpoint not in ("best", "last"):
            raise HarnessError(f"option checkpoint={checkpoint}: use best (validation reward) or last")
        return checkpoint

    def _head_lr_scale(self) -> float:
        value = self.settings.get("token_head_lr_scale")
        scale = 1.0 if value is None else float(value)
        if scale <= 0:
            raise HarnessError(f"option token_head_lr_scale={value}: use a positive multiple of lr")
        return scale

    def hardware(self) -> dict[str, Any]:
        """Where this router trained: device (and GPU name), threads, precision; kept in the run file."""
        import torch

        out: dict[str, Any] = {"device": str(self.device), "precision": self._precision(),
                               "torch": torch.__version__, "threads": torch.get_num_threads()}
        if self.device.type == "cuda":
            out["gpu"] = torch.cuda.get_device_name(self.device)
            out["tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
        from harness.core import distributed

        if distributed.world_size() > 1:
            out["processes"] = distributed.world_size()
        return out

    def full_mask_progress(self) -> float:
        """Training progress from which every response position is masked (a curriculum masks fewer
        before): the response loss is compared with the position-only predictor from there on."""
        return 0.0

    def full_mask_loss_min(self) -> float | None:
        """Lowest 10-step mean of the response loss once every response position is masked."""
        values = [] if self.history is None else self.history.parts.get("response", [])
        start = math.ceil(self.full_mask_progress() * len(values))
        return smoothed_min(values[start:]) if values[start:] else None

    def training_flags(self) -> list[str]:
        """Warnings for the run summary: a response objective that never trained (its lowest 10-step
        mean stayed at or above the fixed threshold), or, once every response position is masked, never
        beat predicting each response token from its position alone (the same positions: like for like).
        A causal LM sees the earlier response tokens, so for it this check can only under-report."""
        h, s = self.history, self.settings
        low = None if h is None else h.summary().get("response_loss_min")
        if low is None or not s.get("lam"):
            return []
        first, flags = h.parts["response"][0], []
        limit = s.get("response_loss_threshold")
        if limit and low >= limit:
            flags.append(f"response loss never fell below {limit} nats (lowest 10-step mean {low:.2f}, first "
                         f"{first:.2f}): the Lookahead response objective did not train")
        freq, full = self.frequency_loss, self.full_mask_loss_min()
        if freq is not None and full is not None and full >= freq:
            flags.append(f"response loss never fell below {freq:.2f} nats, the loss of predicting each response "
                         f"token from its position alone (lowest 10-step mean with every position masked "
                         f"{full:.2f}): the response objective never beat a query-free predictor")
        return flags

    def fit(self, train_data: RoutingData, valid: RoutingData | None = None) -> None:
        self._threads()
        set_seed(self.ctx.seed)
        train_idx, valid_idx = training_split(train_data, self.settings, self.ctx.seed, carve_valid=valid is None)
        if valid is not None:
            valid = valid.subset(np.flatnonzero(informative(valid.scores)))
        else:
            valid = train_data.subset(valid_idx)
        if len(train_idx) == 0:
            raise HarnessError("no informative training items (every candidate scores the same on all)")
        self.build()
        self.model.to(self.device)
        train_set = self.make_examples(train_data.subset(train_idx), True)
        valid_set = self.make_examples(valid, False)
        self.frequency_loss = position_frequency_loss(train_set)
        self.prepare_training(train_set)
        s = self.settings
        self.history = train(self.model, train_set, valid_set, collate=self.collate, loss_fn=self.loss,
                             score_fn=self.scores, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
                             eval_every=s["eval_every"], seed=self.ctx.seed,
                             desc=f"{type(self).__name__} ({len(train_set)} items)",
                             checkpoint=self._checkpoint(), precision=self._precision(),
                             fast_params=self.fresh_head_parameters(),
                             fast_lr_scale=self._head_lr_scale())
        for flag in self.training_flags():
            print(f"{type(self).__name__}: {flag}", file=sys.stderr)

    def predict(self, items: RoutingData) -> np.ndarray:
        if self.model is None:
            raise HarnessError(f"{type(self).__name__}: predict() before fit()")
        self._threads()
        examples = self.make_examples(items, False)
        return predict(self.model, examples, self.collate, self.scores, self.settings["batch_size"] * 2,
                       self._precision())

    def init_untrained(self) -> None:
        self.build()
        self.model.to(self.device)

    def parameter_count(self) -> int:
        return 0 if self.model is None else int(sum(p.numel() for p in self.model.parameters()))

    def training_summary(self) -> dict[str, Any]:
        if not self.history:
            return {}
        freq = None if self.frequency_loss is None else round(self.frequency_loss, 4)
        full = self.full_mask_loss_min()
        return {**self.history.summary(), "packed": uses_packing(self.model),  # speed provenance
                "hardware": self.hardware(), "response_frequency_loss": freq,
                "response_loss_min_full_mask": None if full is None else round(full, 4),
                "full_mask_progress": self.full_mask_progress(), "flags": self.training_flags()}

    def save(self, path: Path) -> None:
        import io

        import torch

        from harness.core.io import atomic_write_bytes

        buf = io.BytesIO()
        torch.save({"state": self.model.state_dict(), "config": self.config(),
                    "history": self.training_summary()}, buf)
        atomic_write_bytes(Path(path), buf.getvalue())

    def load(self, path: Path) -> None:
        import torch

        payload = torch.load(path, map_location="cpu", weights_only=False)
        self.build()
        self.model.load_state_dict(payload["state"])
        self.model.to(self.device)


@functools.cache
def _warn_slow_cpu_bf16() -> None:
    """bf16 autocast on a CPU without native bf16 instructions is emulated and slower than fp32."""
    import torch

    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    if not native:
        print("notice: this CPU has no native bf16; precision=bf16 (the small and cpu profiles' default) runs "
              "emulated and slow here: OPTIONS=precision=fp32 trains faster (other predictions, other caches)",
              file=sys.stderr)
