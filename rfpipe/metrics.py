"""Metrics of a model's endpoints against reference partners.

For endpoints y_i = phi(x_0^i) of the learned flow and partners x_1^i (the training coupling's) and
x_1^{i,OT}:

    l2_to_training_partner = mean_i ||y_i - x_1^i||,      l2_to_ot = mean_i ||y_i - x_1^{i,OT}||,
    pair_recovery          = mean_i 1[argmin_j ||y_i - x_1^j|| = i]

and, for endpoints y'_k of fresh sources (not training sources), against the N training targets:

    target_collapse = median_k min_j ||y'_k - x_1^j||  /  median_j min_{i != j} ||x_1^j - x_1^i||

the fresh endpoints' distance to their nearest training target in units of the targets' own nearest-neighbour
spacing. A flow that generates new samples of the target distribution puts y'_k as far from its nearest training
target as a training target is from its nearest other one (ratio about 1: both are nearest-neighbour distances of
one draw against N or N - 1 others); a flow that has collapsed onto its training targets puts the fresh
endpoints on them (ratio -> 0) whether or not it reproduces the pairing (Euclidean, not squared, over all
coordinates).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["l2", "nearest_other", "pair_recovery", "target_collapse"]


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


def nearest_other(y: Tensor, x_1: Tensor, exclude_own: bool = True, chunk: int = 4096) -> Tensor:
    """min_{j != i} ||y_i - x_1^j|| (or min_j with ``exclude_own=False``), shape (len(y),), in chunks of rows."""
    y, x_1 = y.flatten(1).double(), x_1.flatten(1).double()
    out = torch.empty(y.shape[0], dtype=torch.float64)
    for start in range(0, y.shape[0], chunk):
        d = torch.cdist(y[start:start + chunk], x_1)
        if exclude_own:
            rows = torch.arange(d.shape[0])
            d[rows, rows + start] = float("inf")
        out[start:start + d.shape[0]] = d.min(dim=1).values
    return out


def target_collapse(fresh: Tensor, x_1: Tensor, chunk: int = 4096) -> float:
    """The module docstring's ratio for endpoints ``fresh`` of fresh sources against the training targets ``x_1``
    (N >= 2); non-finite endpoints count as infinitely far."""
    spacing = float(nearest_other(x_1, x_1, True, chunk).median())
    return float(nearest_other(fresh, x_1, False, chunk).nan_to_num(nan=float("inf")).median()) / spacing
