"""Profiles: named sets of hyperparameters for the learned routers.

- ``smoke``: minutes; tiny random backbones and a few steps (tests, CI).
- ``small``: a reduced cpu profile for multi-seed comparisons and ablations (about 10 minutes a
  5-fold cv run on this machine): at most 250 training items per benchmark, 1 epoch, query cap 64.
- ``cpu``: the default here: the offline backbones, sized so a full 5-fold cv run fits the
  2-core machine (see README, "CPU profile").
- ``gpu``: the offline backbones at the paper's budget where they allow it (all layers, m = 64, the
  paper's epochs, batch 64, lr 5e-5), bf16 autocast and TF32: ``make gpu-budget`` on one GPU.
- ``paper``: the paper's backbones and hyperparameters (needs a GPU and the hub).

``packed`` (all profiles): BERT-family backbones run padding-free (routers/packing.py), same
predictions, fewer FLOPs; like ``num_threads`` it is in SPEED_ONLY (does not name runs or key caches).

A router reads its family's settings with :func:`settings`; ``OPTIONS="key=value"`` overrides any
of them, and the resolved values are recorded in the run file.
"""
from __future__ import annotations

from typing import Any

from harness.core.errors import HarnessError

PROFILES = ("smoke", "small", "cpu", "gpu", "paper")
# Settings that change speed, not predictions: they neither name a run (its profile label) nor key
# the fold caches.
SPEED_ONLY = ("num_threads", "device", "packed", "tf32", "joint_mask_mb")

# checkpoint: "last" keeps the final weights (cosine schedule to 0); "best" restores the step with the
# best validation reward. The smoke/small/cpu/gpu validation splits (10% of a cv fold: 122 items on
# small, 261 on cpu) have a reward standard error of ~0.02, the whole gap between always-InternLM and
# task_best, so they do not choose checkpoints there; they are still evaluated and logged.
# precision: small and cpu train and predict under bf16 autocast (weights and optimizer stay fp32):
# on this project's CPU (AVX-512 BF16) alternating probes ran Lookahead-MLM 1.75x and MLC 1.7x faster
# than fp32 (bench/bench_training.py --precision). It changes predictions, so it keys caches and is
# recorded; OPTIONS=precision=fp32 gives the runs made before (a CPU without native bf16 is slower).
# response_loss_threshold: a Lookahead run whose response loss (10-step mean) never fell below it is
# flagged in its run file (about half the uniform loss of MiniLM's and SmolLM2's vocabularies).
_COMMON: dict[str, dict[str, Any]] = {
    "smoke": dict(epochs=1, batch_size=8, lr=5e-4, max_query_len=32, eval_every=20, max_train_items=64,
                  valid_fraction=0.2, cap_per_benchmark=None, num_threads=2, packed=True, checkpoint="last"),
    "small": dict(epochs=1, batch_size=16, lr=1e-4, max_query_len=64, eval_every=25, max_train_items=None,
                  valid_fraction=0.1, cap_per_benchmark=250, num_threads=2, packed=True, checkpoint="last",
                  precision="bf16"),
    "cpu": dict(epochs=2, batch_size=16, lr=5e-5, max_query_len=96, eval_every=100, max_train_items=None,
                valid_fraction=0.1, cap_per_benchmark=1000, num_threads=2, packed=True, checkpoint="last",
                precision="bf16"),
    # gpu: the offline backbones at the paper's budget where they allow it (make gpu-budget, README)
    "gpu": dict(epochs=2, batch_size=64, lr=5e-5, max_query_len=180, eval_every=100, max_train_items=None,
                valid_fraction=0.1, cap_per_benchmark=None, num_threads=None, packed=True, checkpoint="last",
                precision="bf16", tf32=True),
    "paper": dict(epochs=2, batch_size=64, lr=5e-5, max_query_len=2048, eval_every=100, max_train_items=None,
                  valid_fraction=0.1, cap_per_benchmark=None, num_threads=None, packed=True, checkpoint="best"),
}
for _common in _COMMON.values():
    _common.setdefault("precision", "fp32")
    _common.setdefault("response_loss_threshold", 5.0)

# Family-specific settings layered over the common ones.
_FAMILY: dict[str, dict[str, dict[str, Any]]] = {
    "classifier": {
        "smoke": dict(backbone="tiny-bert"),
        "small": dict(backbone="minilm"),
        "cpu": dict(backbone="minilm"),
        "gpu": dict(backbone="minilm"),
        "paper": dict(backbone="modernbert-base"),
    },
    "zooter": {  # KL target temperature: paper text softmax(scores); released scripts 0.1
        "smoke": dict(kl_temperature=0.1), "small": dict(kl_temperature=0.1), "cpu": dict(kl_temperature=0.1),
        "gpu": dict(kl_temperature=1.0), "paper": dict(kl_temperature=1.0),
    },
    "routerdc": {
        "smoke": dict(top_k=3, last_k=3, negatives=3, n_clusters=4, cluster_weight=1.0),
        "small": dict(top_k=3, last_k=3, negatives=3, n_clusters=8, cluster_weight=1.0),
        "cpu": dict(top_k=3, last_k=3, negatives=3, n_clusters=8, cluster_weight=1.0),
        "gpu": dict(top_k=3, last_k=3, negatives=3, n_clusters=8, cluster_weight=1.0),
        "paper": dict(top_k=3, last_k=3, negatives=3, n_clusters=8, cluster_weight=1.0),
    },
    "lookahead_mlm": {
        "smoke": dict(backbone="tiny-bert", span=8, lam=0.2, curriculum_start=0.0, curriculum_alpha=0.4,
                      max_response_len=8),
        "small": dict(backbone="minilm", span=8, lam=0.2, curriculum_start=0.0, curriculum_alpha=0.4),
        # cpu: the sequence is query (<=96) + T * (m + 1) of MiniLM's 512 positions. The 60-minute
        # goal decides m: bench/bench_training.py probes (taken beside a paused run, ~1.3x slow) put
        # a full cv run at ~79 min with m=16 and ~54 with m=8; m=8 (paper: 64) then measured 44.8 min
        # in fp32, 24.4 min under bf16 autocast (docs/measurements.md).
        "cpu": dict(backbone="minilm", span=8, lam=0.2, curriculum_start=0.0, curriculum_alpha=0.4,
                    epochs=2),
        # gpu: the paper's m, lam, epochs, batch and lr on MiniLM; its 512 positions leave 185 for
        # [CLS] x [SEP] beside five spans of 65 (the query cap is shared with MLC in this profile)
        "gpu": dict(backbone="minilm", span=64, lam=0.2, curriculum_start=0.0, curriculum_alpha=0.4, epochs=4),
        "paper": dict(backbone="modernbert-base", span=64, lam=0.2, curriculum_start=0.0, curriculum_alpha=0.4,
                      epochs=4),
    },
    "lookahead_clm": {
        "smoke": dict(backbone="tiny-llama", lam=0.5, max_response_len=8, num_layers=None),
        # small and cpu: all 30 layers trained, responses cut to 8 tokens. The earlier setup kept the
        # first 4 layers (num_layers=4): its response loss started at ~18 nats, worse than uniform
        # (10.8), its gradient drowned routing's, and the known-answer check failed; training only the
        # top 4 of 30 layers (train_layers=4) failed it too (results/diagnostics.md). A step costs 4.5x
        # the 4-layer one (same-process probes, 8-item batches), so cpu caps 150 items per benchmark
        # (was 600) and, with ~110 steps a fold, takes the small profile's lr: ~100 min estimated, not run.
        "small": dict(backbone="smollm2-135m-instruct-gguf", lam=0.5, max_response_len=8, num_layers=None,
                      batch_size=8),
        "cpu": dict(backbone="smollm2-135m-instruct-gguf", lam=0.5, max_query_len=64, max_response_len=8,
                    num_layers=None, epochs=1, batch_size=8, cap_per_benchmark=150, lr=1e-4),
        # gpu: every layer trained, the paper's epochs, batch and lr; responses cut to 64 tokens (as the
        # MLM's m) and the joint pass's dense mask capped (joint_mask_mb; past it, separate sequences)
        "gpu": dict(backbone="smollm2-135m-instruct-gguf", lam=0.5, max_query_len=256, max_response_len=64,
                    num_layers=None, train_layers=None, epochs=2, joint_mask_mb=2048),
        "paper": dict(backbone="smollm2-135m", lam=0.5, max_response_len=2048, num_layers=None, epochs=2,
                      joint_mask_mb=4096),
    },
}


def check_profile(name: str) -> str:
    if name not in PROFILES:
        raise HarnessError(f"unknown profile '{name}' (known: {', '.join(PROFILES)})")
    return name


# Settings a router reads with a default of its own (not listed in the tables above); an OPTIONS key
# that is neither here nor in any table is a typo, refused rather than silently ignored.
EXTRA_OPTIONS = frozenset({
    "clm_inference", "clm_training", "curriculum", "device", "floor", "joint_mask_mb", "k", "mask_mode",
    "mid_init", "mid_tokens", "n_init", "num_layers", "separate", "span", "span_positions", "tf32",
    "train_layers", "variant", "max_response_len", "precision", "response_loss_threshold",
    "token_head_lr_scale"})


def known_options() -> set[str]:
    keys = set(EXTRA_OPTIONS) | set(SPEED_ONLY)
    for table in _COMMON.values():
        keys |= set(table)
    for family in _FAMILY.values():
        for table in family.values():
            keys |= set(table)
    return keys


def settings(profile: str, *families: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Common settings, then each family's, then the user's OPTIONS (parsed to the default's type)."""
    check_profile(profile)
    unknown = sorted(set(options or {}) - known_options())
    if unknown:
        raise HarnessError(f"unknown option '{unknown[0]}' (OPTIONS=); known: {', '.join(sorted(known_options()))}")
    out = dict(_COMMON[profile])
    for family in families:
        out.update(_FAMILY.get(family, {}).get(profile, {}))
    for key, value in (options or {}).items():
        out[key] = _coerce(key, value, out.get(key))
    return out


def _coerce(key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value.lower() in ("none", "null"):
        return None
    try:
        if isinstance(default, bool):
            return value.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if default is None and value.replace(".", "", 1).replace("e-", "", 1).isdigit():
            return float(value) if any(c in value for c in ".e") else int(value)
    except ValueError:
        raise HarnessError(f"option {key}={value!r}: expected a {type(default).__name__}") from None
    return value
