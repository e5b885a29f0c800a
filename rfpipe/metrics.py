"""Metrics of a model's endpoints against reference partners.

For endpoints y_i = phi(x_0^i) of the learned flow and partners x_1^i (the training coupling's) and
x_1^{i,OT}:

    l2_to_training_partner = mean_i ||y_i - x_1^i||,      l2_to_ot = mean_i ||y_i - x_1^{i,OT}||,
    pair_recovery          = mean_i 1[argmin_j ||y_i - x_1^j|| = i]

(Euclidean, not squared, over all coordinates).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["l2", "pair_recovery"]


def l2(y: Tensor, x: Tensor) -> Tensor:
    """Per-sample Euclidean distances ||y_i - x_i|| over all non-batch coordinates, shape (N,)."""
    return (y - x).flatten(1).norm(dim=1)


def pair_recovery(y: Tensor, x_1: Tensor, chunk: int = 4096) -> float:
    """Share of i whose endpoint y_i is nearer to its own partner x_1^i than to any other x_1^j.

    Ties count as not recovered. Computed in chunks of rows to bound memory at (chunk, N).
    """
    y, x_1 = y.flatten(1).double(), x_1.flatten(1).double()
    hits = 0
    for start in range(0, y.shape[0], chunk):
        d = torch.cdist(y[start:start + chunk], x_1)
        idx = torch.arange(start, start + d.shape[0])
        own = d[torch.arange(d.shape[0]), idx]
        d[torch.arange(d.shape[0]), idx] = float("inf")
        hits += int((own < d.min(dim=1).values).sum())
    return hits / y.shape[0]
