"""Training labels from per-item ground-truth scores, as the authors' code builds them.

Per item, the candidates' scores are min-max normalized *within the item* ((s - min)/(max - min));
label_t = 1 where the normalized score >= threshold (0.8), so the best candidate is always
positive; items where every candidate scores the same carry no routing signal and are left out of
training. A dataset-level rule (min-max over each benchmark / training set) is kept as an option.
"""
from __future__ import annotations

import numpy as np

THRESHOLD = 0.8


def per_item_normalized(scores: np.ndarray) -> np.ndarray:
    """(n, T) scores -> per-item min-max normalized; all-tied items become all zeros."""
    scores = np.asarray(scores, dtype=np.float64)
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)


def dataset_normalized(scores: np.ndarray, groups: list[str]) -> np.ndarray:
    """Min-max over all items and candidates of each group (benchmark or training set)."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.zeros_like(scores)
    labels = np.asarray(groups)
    for group in set(groups):
        rows = labels == group
        low, high = scores[rows].min(), scores[rows].max()
        out[rows] = (scores[rows] - low) / (high - low) if high > low else 0.0
    return out


def informative(scores: np.ndarray) -> np.ndarray:
    """Mask of items where the candidates do not all score the same."""
    scores = np.asarray(scores, dtype=np.float64)
    return scores.max(axis=1) > scores.min(axis=1)


def binary_labels(scores: np.ndarray, threshold: float = THRESHOLD, groups: list[str] | None = None,
                  rule: str = "item") -> np.ndarray:
    """0/1 labels per candidate; ``rule`` is "item" (default, the authors' code) or "dataset"."""
    if rule == "item":
        normalized = per_item_normalized(scores)
    elif rule == "dataset":
        if groups is None:
            raise ValueError("the dataset-level rule needs the items' groups")
        normalized = dataset_normalized(scores, groups)
    else:
        raise ValueError(f"unknown label rule {rule!r} (item or dataset)")
    return (normalized >= threshold).astype(np.float32)
