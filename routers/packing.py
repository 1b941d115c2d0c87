"""Padding-free ("packed") forward passes for the learned routers' BERT-family backbones.

A padded batch of B rows of width L costs B*L tokens in every linear layer, though only the real
tokens count: with the cpu profile's random batches of 16, padding is ~39% of MLC's tokens and ~26%
of Lookahead-MLM's at T=5 (bench/bench_training.py --packing). :func:`packed_hidden` instead lays the
batch's real tokens end to end in one row of length N, so embeddings, linear layers, layer norms
and dropout see only those N tokens; only attention is computed per sequence, on a padded view
rebuilt inside the attention function. The result at every real position is the padded forward's
(same maths; a test checks states and gradients), and the rows' order and the batches are unchanged.

This is transformers' padding-free path (``DataCollatorWithFlattening``: one row, position ids
restarting per sequence, the sequences' boundaries passed to the attention) with a CPU attention
function registered through ``AttentionInterface`` in place of flash-attention's varlen kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

IMPLEMENTATION = "routing_packed_sdpa"
_registered = False


@dataclass(frozen=True)
class Packing:
    """Where the packed tokens sit in the padded (B, L) batch they came from."""

    rows: int  # B
    width: int  # L
    flat_index: torch.Tensor  # (N,) row * L + column of each real token, row-major
    key_mask: torch.Tensor  # (B, 1, 1, L) bool: True at real tokens

    @classmethod
    def of(cls, attention_mask: torch.Tensor) -> "Packing":
        rows, width = attention_mask.shape
        real = attention_mask.bool()
        return cls(rows, width, real.reshape(-1).nonzero().squeeze(1), real[:, None, None, :])

    def pack(self, padded: torch.Tensor) -> torch.Tensor:
        """(B, L, ...) -> (1, N, ...)"""
        return padded.reshape(self.rows * self.width, *padded.shape[2:])[self.flat_index].unsqueeze(0)

    def unpack(self, packed: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, L, ...), zeros at the padding."""
        out = packed.new_zeros(self.rows * self.width, *packed.shape[1:])
        return out.index_copy(0, self.flat_index, packed).view(self.rows, self.width, *packed.shape[1:])


def _packed_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                      packing: Packing | None = None, **kwargs):
    """SDPA per sequence for a packed row; any other call is transformers' own SDPA attention."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if packing is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    # (1, H, N, d) -> (B, H, L, d): attention sees each sequence alone, its padding masked as keys
    padded = [packing.unpack(x[0].transpose(0, 1)).transpose(1, 2) for x in (query, key, value)]
    out = F.scaled_dot_product_attention(*padded, attn_mask=packing.key_mask, dropout_p=dropout, scale=scaling)
    # (B, H, L, d) -> (1, N, H, d), the layout the caller reshapes to (1, N, H*d)
    return packing.pack(out.transpose(1, 2)), None


def _register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(IMPLEMENTATION, _packed_attention)
    AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)  # unpacked calls build SDPA's usual mask
    _registered = True


def supports_packing(model: nn.Module) -> bool:
    """BERT-family encoders: absolute position ids and one attention function for every layer."""
    return getattr(model.config, "model_type", None) == "bert" and not model.config.is_decoder


def enable_packing(model: nn.Module) -> bool:
    """Switch ``model`` (a BertModel) to the packed-capable attention; False where it does not apply."""
    if not supports_packing(model):
        return False
    _register()
    model.set_attn_implementation(IMPLEMENTATION)
    return True


def uses_packing(model: nn.Module) -> bool:
    """Whether any part of a router's model runs its backbone padding-free."""
    return any(getattr(part, "packed", False) is True for part in model.modules())


def packed_hidden(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  position_ids: torch.Tensor | None = None) -> torch.Tensor:
    """``model(...).last_hidden_state`` for a right- or middle-padded batch, computed on its real
    tokens only; padding positions hold zeros. Batches without padding take the ordinary path."""
    if position_ids is None:
        position_ids = torch.arange(input_ids.size(1), device=input_ids.device).expand_as(input_ids)
    if bool(attention_mask.all()):
        return model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).last_hidden_state
    if model.config._attn_implementation != IMPLEMENTATION:
        raise RuntimeError(f"packed_hidden needs enable_packing(model) first (attention is "
                           f"'{model.config._attn_implementation}')")
    packing = Packing.of(attention_mask)
    out = model(input_ids=packing.pack(input_ids), position_ids=packing.pack(position_ids), packing=packing)
    return packing.unpack(out.last_hidden_state[0])
