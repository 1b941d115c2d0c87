"""Inference input layouts of the classifier and Lookahead routers (paper notes, sections 5 and 6).

Kept to the bare minimum the cost count needs, and named so router code can reuse it:

- :func:`mlc_input`: ``[CLS] x [SEP]`` (MLC, ZOOTER, RouterDC on an encoder backbone).
- :func:`mlm_joint_input`: ``[CLS] x [SEP]`` then, per candidate t, m positions holding MID_t and a
  ``[SEP]``: T*(m+1) extra tokens. At inference every span position is MID_t.
- :func:`clm_mid_input`: ``x ‖ MID_1 … MID_T`` in one causal pass, with a mask so each MID_t sees x and
  itself only, and every MID_t at position |x| (rotary positions), so r_t equals the hidden state of
  the separate sequence ``x ‖ MID_t``.

Token ids are plain ints; the special ids come from the backbone's tokenizer (or, for counting, any
in-vocabulary ids: FLOPs do not depend on token values).
"""
from __future__ import annotations

from typing import Sequence

import torch

SPAN_POSITIONS = ("restart", "straight")


def mlc_input(query_ids: Sequence[int], cls_id: int, sep_id: int) -> list[int]:
    """``[CLS] x [SEP]``."""
    return [cls_id, *query_ids, sep_id]


def mlm_joint_input(query_ids: Sequence[int], mid_ids: Sequence[int], m: int, cls_id: int, sep_id: int,
                    span_positions: str = "restart") -> tuple[list[int], list[int]]:
    """(input ids, position ids) of the joint MLM pass at inference: ``[CLS] x [SEP]`` + T*(MID_t*m + [SEP]).

    ``span_positions``: "restart" gives every span the same positions, continuing after x (the released
    SDPA path); "straight" numbers positions through (the released flash-attention path).
    """
    if span_positions not in SPAN_POSITIONS:
        raise ValueError(f"span_positions={span_positions!r}: expected one of {SPAN_POSITIONS}")
    ids = mlc_input(query_ids, cls_id, sep_id)
    head = len(ids)
    positions = list(range(head))
    for t, mid in enumerate(mid_ids):
        ids += [mid] * m + [sep_id]
        start = head if span_positions == "restart" else head + t * (m + 1)
        positions += list(range(start, start + m + 1))
    return ids, positions


def clm_mid_input(query_ids: Sequence[int], mid_ids: Sequence[int]) -> tuple[list[int], list[int], torch.Tensor]:
    """(input ids, position ids, boolean mask (L, L), True = may attend) of ``x ‖ MID_1 … MID_T``.

    Causal over x; MID_t attends to x and to itself, never to another MID (so the pass equals T
    separate sequences ``x ‖ MID_t``). Pass it to a HF model as ``mask[None, None]`` (a custom 4D mask
    is used as given) with the position ids: boolean for SDPA attention; eager attention *adds* the
    mask, so give it :func:`additive_mask` instead.
    """
    n, t = len(query_ids), len(mid_ids)
    size = n + t
    mask = torch.ones(size, size, dtype=torch.bool).tril()
    mask[n:, n:] = torch.eye(t, dtype=torch.bool)
    positions = list(range(n)) + [n] * t
    return [*query_ids, *mid_ids], positions, mask


def clm_mid_positions(query_len: int, n_candidates: int) -> list[int]:
    """Where r_1 … r_T sit in the sequence of :func:`clm_mid_input`."""
    return list(range(query_len, query_len + n_candidates))


def additive_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A boolean "may attend" mask as the additive float mask eager attention expects (0 / dtype min)."""
    return torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, torch.finfo(dtype).min)
