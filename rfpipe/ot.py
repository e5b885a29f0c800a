"""Discrete optimal transport assignments between equal-size point sets, on squared Euclidean cost.

    sigma* = argmin_{sigma permutation} sum_i ||x_0^i - x_1^{sigma(i)}||^2

- :func:`exact_assignment`: the exact solution (scipy's ``linear_sum_assignment``, a shortest augmenting
  path solver) on the dense (N, N) cost: 8 N^2 bytes, so N = 5,000 takes 200 MB; N = 50,000 would take 20 GB.
- :func:`blockwise_assignment`: the large-N path. Both sets are sorted along their pooled first principal
  direction, cut into consecutive blocks of ``block`` points, and each pair of matching blocks is solved
  exactly: memory 8 block^2 bytes, time (N / block) times one exact block solve. Its cost is never below
  the exact optimum; :func:`assignment_cost` measures the excess (``benchmarks/ot.py`` prints it: about 1 %
  at blocks of 500 of N = 5,000 images, no better than random blocks in these dimensions; exact in 1-D).
- :func:`ot_assignment` picks the exact solver up to ``exact_max`` points and the blockwise path above.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["EXACT_MAX", "assignment_cost", "blockwise_assignment", "exact_assignment", "ot_assignment"]

EXACT_MAX = 10_000
"""Largest N solved exactly by default (a 10,000^2 float64 cost matrix is 800 MB)."""


def _flat(x: Tensor) -> Tensor:
    return x.flatten(1).double()


def _sq_cost(a: Tensor, b: Tensor) -> Tensor:
    """||a_i - b_j||^2, shape (len(a), len(b)), in float64, clamped at 0."""
    cost = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return cost.clamp_min_(0.0)


def exact_assignment(x_0: Tensor, x_1: Tensor) -> Tensor:
    """Exact OT permutation: x_0[i] is matched to x_1[cols[i]]; returns ``cols`` (N,) int64."""
    from scipy.optimize import linear_sum_assignment

    if x_0.shape[0] != x_1.shape[0]:
        raise ValueError(f"OT assignment needs equal sizes, got {x_0.shape[0]} and {x_1.shape[0]}")
    _, cols = linear_sum_assignment(_sq_cost(_flat(x_0), _flat(x_1)).numpy())
    return torch.as_tensor(cols, dtype=torch.int64)


def _principal_direction(a: Tensor, b: Tensor, iterations: int = 10) -> Tensor:
    """First principal direction of the pooled rows of ``a`` and ``b`` (power iteration on the centred points,
    never forming them, nor a (D, D) matrix: memory O(N + D) beyond the inputs)."""
    mean = (a.sum(0, dtype=torch.float64) + b.sum(0, dtype=torch.float64)) / (a.shape[0] + b.shape[0])
    mean = mean.to(a.dtype)
    u = torch.randn(a.shape[1], generator=torch.Generator().manual_seed(0)).to(a.dtype)
    for _ in range(iterations):
        nxt = torch.zeros_like(u)
        for x in (a, b):
            w = x @ u - mean @ u  # centred projections
            nxt += x.T @ w - mean * w.sum()
        u = nxt / nxt.norm()
    return u


def blockwise_assignment(x_0: Tensor, x_1: Tensor, block: int = 5_000) -> Tensor:
    """Approximate OT permutation from exact solves on matching blocks of the sets sorted along their pooled
    first principal direction (see the module doc); the inputs are only copied one block at a time."""
    n = x_0.shape[0]
    if x_1.shape[0] != n:
        raise ValueError(f"OT assignment needs equal sizes, got {n} and {x_1.shape[0]}")
    a, b = x_0.flatten(1), x_1.flatten(1)
    u = _principal_direction(a, b)
    order_0, order_1 = torch.argsort(a @ u, stable=True), torch.argsort(b @ u, stable=True)
    cols = torch.empty(n, dtype=torch.int64)
    for start in range(0, n, block):
        i, j = order_0[start:start + block], order_1[start:start + block]
        cols[i] = j[exact_assignment(a[i], b[j])]
    return cols


def ot_assignment(x_0: Tensor, x_1: Tensor, exact_max: int = EXACT_MAX, block: int = 5_000) -> Tensor:
    """:func:`exact_assignment` for N <= ``exact_max``, else :func:`blockwise_assignment` with ``block``."""
    if x_0.shape[0] <= exact_max:
        return exact_assignment(x_0, x_1)
    return blockwise_assignment(x_0, x_1, block)


def assignment_cost(x_0: Tensor, x_1: Tensor, cols: Tensor, chunk: int = 4096) -> float:
    """Mean squared distance of the matched pairs, (1/N) sum_i ||x_0^i - x_1^{cols_i}||^2 (float64, ``chunk``
    rows at a time)."""
    total = 0.0
    for start in range(0, x_0.shape[0], chunk):
        rows = slice(start, start + chunk)
        total += float(((_flat(x_0[rows]) - _flat(x_1[cols[rows]])) ** 2).sum())
    return total / x_0.shape[0]
