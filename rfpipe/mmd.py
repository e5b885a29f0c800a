"""Maximum Mean Discrepancy (MMD) between two samples, with a mixture-of-bandwidths RBF kernel.

For samples X = {x_i}_{i=1}^n and Y = {y_j}_{j=1}^m in R^d (trailing dims of image-like inputs are
flattened) and a kernel k, the unbiased U-statistic estimator (Gretton et al., 2012, eq. 3) is

    MMD_u^2 = 1/(n(n-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
              - 2/(nm) sum_{i, j} k(x_i, y_j),

and the biased V-statistic MMD_b^2 keeps the diagonal terms and divides by n^2 and m^2. The kernel is a
mean of Gaussian RBF kernels over bandwidths H = (h_1, ..., h_L):

    k(x, y) = 1/L sum_l exp(-||x - y||^2 / (2 h_l^2)),

so k(x, x) = 1. Without explicit bandwidths, H = (0.5, 1, 2) * h_med, where h_med is the median pairwise
Euclidean distance of the pooled sample (the median heuristic, :func:`median_bandwidth`).

The kernel sums are accumulated in blocks of ``chunk_size`` rows (the within-sample sums over the upper
block triangle only), so peak memory is about 3 * chunk_size * max(n, m) float64 values, never n x m.
All arithmetic is in float64; both samples are first translated by their pooled mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MULTIPLIERS",
    "MEDIAN_MAX_POINTS",
    "MMDResult",
    "median_bandwidth",
    "mmd",
    "mmd2_biased",
    "mmd2_unbiased",
    "rbf_kernel",
    "resolve_bandwidths",
]

DEFAULT_MULTIPLIERS: tuple[float, ...] = (0.5, 1.0, 2.0)
DEFAULT_CHUNK_SIZE = 512
MEDIAN_MAX_POINTS = 2000

Bandwidths = float | Sequence[float]


@dataclass(frozen=True)
class MMDResult:
    """An MMD^2 estimate and how it was computed.

    Attributes:
        mmd2: the unbiased estimate MMD_u^2 (may be slightly negative when the distributions agree).
        bandwidths: the RBF bandwidths h_l that the kernel averaged over (by default (0.5, 1, 2) * median).
        n_x: number of samples in X.
        n_y: number of samples in Y.
    """

    mmd2: float
    bandwidths: tuple[float, ...]
    n_x: int
    n_y: int


def _as_2d(x: Tensor) -> Tensor:
    """Samples as a float64 matrix (N, d): (N,) becomes (N, 1), (N, *D) is flattened to (N, prod D)."""
    if x.dim() == 0:
        raise ValueError("samples must have a batch dimension")
    x = x.reshape(-1, 1) if x.dim() == 1 else x.flatten(1)
    return x.to(torch.float64)


def _as_bandwidths(bandwidths: Bandwidths) -> tuple[float, ...]:
    """A float or a sequence of floats as a non-empty tuple of positive floats."""
    if isinstance(bandwidths, Sequence) or (isinstance(bandwidths, Tensor) and bandwidths.dim() > 0):
        bws = tuple(float(h) for h in bandwidths)
    else:
        bws = (float(bandwidths),)
    if not bws:
        raise ValueError("need at least one bandwidth")
    if not all(h > 0 and h < float("inf") for h in bws):
        raise ValueError(f"bandwidths must be positive and finite, got {bws}")
    return bws


def _check_pair(x: Tensor, y: Tensor) -> None:
    """Raise unless the two (flattened) samples live in the same dimension."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples differ in dimension: {x.shape[1]} vs {y.shape[1]}")


def _center(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Check the dimensions and translate both samples by the pooled mean (the kernel is translation invariant;
    smaller norms mean less cancellation in ||a||^2 + ||b||^2 - 2 <a, b>)."""
    _check_pair(x, y)
    c = torch.cat([x, y]).mean(0)
    return x - c, y - c


def _kernel_block(a: Tensor, b: Tensor, b_sq: Tensor, bws: tuple[float, ...]) -> Tensor:
    """K_ij = 1/L sum_l exp(-||a_i - b_j||^2 / (2 h_l^2)) for float64 matrices, given b_sq_j = ||b_j||^2.

    The squared distance is ||a_i||^2 + ||b_j||^2 - 2 <a_i, b_j> (one matmul), clamped at 0. Uses two
    (rows(a), rows(b)) buffers and a third transient one per extra bandwidth.
    """
    d2 = torch.addmm(b_sq.expand(a.shape[0], -1), a, b.T, beta=1.0, alpha=-2.0)
    d2.add_((a * a).sum(1)[:, None]).clamp_min_(0.0)
    k = torch.mul(d2, -0.5 / bws[0] ** 2).exp_()
    last = len(bws) - 1
    for i in range(1, len(bws)):  # the last bandwidth reuses d2's storage
        k.add_(torch.mul(d2, -0.5 / bws[i] ** 2, out=d2 if i == last else None).exp_())
    return k.div_(len(bws))


def rbf_kernel(x: Tensor, y: Tensor, bandwidths: Bandwidths) -> Tensor:
    """Kernel matrix K_ij = 1/L sum_l exp(-||x_i - y_j||^2 / (2 h_l^2)), float64, shape (n, m).

    Args:
        x: samples (n, *D).
        y: samples (m, *D).
        bandwidths: one bandwidth h or a sequence (h_1, ..., h_L); the kernel is their mean.
    """
    bws = _as_bandwidths(bandwidths)
    x, y = _center(_as_2d(x), _as_2d(y))
    return _kernel_block(x, y, (y * y).sum(1), bws)


def _kernel_sum(a: Tensor, b: Tensor, bws: tuple[float, ...], chunk_size: int) -> float:
    """sum_{i, j} k(a_i, b_j), over blocks of ``chunk_size`` rows of ``a``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    b_sq = (b * b).sum(1)
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for start in range(0, a.shape[0], chunk_size):
        total += _kernel_block(a[start:start + chunk_size], b, b_sq, bws).sum()
    return float(total)


def _self_kernel_sum(a: Tensor, bws: tuple[float, ...], chunk_size: int, off_diagonal: bool) -> float:
    """sum_{i, j} k(a_i, a_j) (``off_diagonal``: over i != j only), by symmetry from the upper block triangle.

    Rows R = [s, e) are paired with columns j >= s: the square block R x R is summed as is, the part
    j >= e counts twice (it stands for its mirror image too). This halves the work of a full sweep.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    a_sq = (a * a).sum(1)
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for start in range(0, a.shape[0], chunk_size):
        stop = min(start + chunk_size, a.shape[0])
        k = _kernel_block(a[start:stop], a[start:], a_sq[start:], bws)
        if off_diagonal:
            k.diagonal().zero_()  # the entries (i, i)
        w = stop - start
        total += k[:, :w].sum() + 2.0 * k[:, w:].sum()
    return float(total)


def _subsample(x: Tensor, k: int, seed: int) -> Tensor:
    """k of the rows of x, without replacement, chosen by a fresh generator seeded with ``seed``."""
    if k >= x.shape[0]:
        return x
    idx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:k]
    return x[idx.to(x.device)]


def median_bandwidth(x: Tensor, y: Tensor, max_points: int | None = MEDIAN_MAX_POINTS, seed: int = 0) -> float:
    """Median heuristic: the median of ||z_i - z_j|| over pairs i < j of the pooled sample Z = X u Y.

    The diagonal zeros are excluded; for an even number of pairs the median is the mean of the two middle
    distances. If n + m > ``max_points``, Z is a stratified subsample instead: max(1, floor(P n / (n + m)))
    points of X and max(1, floor(P m / (n + m))) of Y (P = max_points), each chosen without replacement by
    a fresh generator seeded with ``seed``. The result is deterministic and symmetric in X and Y.

    Args:
        x: samples (n, *D).
        y: samples (m, *D).
        max_points: bound on the pooled (sub)sample, so at most about max_points^2 / 2 distances;
            None uses all points.
        seed: seed of the subsampling generators.
    """
    x, y = _as_2d(x), _as_2d(y)
    _check_pair(x, y)
    n, m = x.shape[0], y.shape[0]
    if max_points is not None and n + m > max_points:
        if max_points < 2:
            raise ValueError(f"max_points must be >= 2, got {max_points}")
        x = _subsample(x, max(1, max_points * n // (n + m)), seed)
        y = _subsample(y, max(1, max_points * m // (n + m)), seed)
    z = torch.cat([x, y])
    if z.shape[0] < 2:
        raise ValueError("the median heuristic needs at least two points")
    d = torch.pdist(z)
    k = d.numel()
    upper = float(d.kthvalue(k // 2 + 1).values)  # kthvalue is 1-based: the (k // 2 + 1)-th smallest
    med = upper if k % 2 else 0.5 * (float(d.kthvalue(k // 2).values) + upper)
    if not med > 0:
        raise ValueError("median pairwise distance is zero (more than half the pairs coincide); pass bandwidths")
    return med


def resolve_bandwidths(x: Tensor, y: Tensor, bandwidths: Bandwidths | None = None,
                       multipliers: Sequence[float] = DEFAULT_MULTIPLIERS,
                       max_points: int | None = MEDIAN_MAX_POINTS, seed: int = 0) -> tuple[float, ...]:
    """The bandwidths to use: ``bandwidths`` if given, else multipliers * median_bandwidth(x, y, max_points, seed)."""
    if bandwidths is not None:
        return _as_bandwidths(bandwidths)
    h = median_bandwidth(x, y, max_points=max_points, seed=seed)
    return _as_bandwidths([c * h for c in multipliers])


def _prepare(x: Tensor, y: Tensor, bandwidths: Bandwidths | None,
             min_n: int) -> tuple[Tensor, Tensor, tuple[float, ...]]:
    """Flatten, check and resolve bandwidths for an MMD estimate."""
    x2, y2 = _center(_as_2d(x), _as_2d(y))
    if x2.shape[0] < min_n or y2.shape[0] < min_n:
        raise ValueError(f"need at least {min_n} samples in each of X and Y, got {x2.shape[0]} and {y2.shape[0]}")
    return x2, y2, resolve_bandwidths(x2, y2, bandwidths)


def mmd2_unbiased(x: Tensor, y: Tensor, bandwidths: Bandwidths | None = None,
                  chunk_size: int = DEFAULT_CHUNK_SIZE) -> float:
    """Unbiased U-statistic MMD_u^2 (module docstring). Needs n, m >= 2.

    Its expectation is the population MMD^2 >= 0, but an estimate can be negative (typically by O(1/n)
    when the two distributions are equal); do not take its square root without clamping.

    Args:
        x: samples (n, *D).
        y: samples (m, *D).
        bandwidths: RBF bandwidth(s); None uses (0.5, 1, 2) times the median heuristic.
        chunk_size: rows per kernel block (memory is about 3 * chunk_size * max(n, m) doubles).
    """
    x, y, bws = _prepare(x, y, bandwidths, min_n=2)
    n, m = x.shape[0], y.shape[0]
    kxx = _self_kernel_sum(x, bws, chunk_size, off_diagonal=True)
    kyy = _self_kernel_sum(y, bws, chunk_size, off_diagonal=True)
    kxy = _kernel_sum(x, y, bws, chunk_size)
    return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2.0 * kxy / (n * m)


def mmd2_biased(x: Tensor, y: Tensor, bandwidths: Bandwidths | None = None,
                chunk_size: int = DEFAULT_CHUNK_SIZE) -> float:
    """Biased V-statistic MMD_b^2 = 1/n^2 sum_{i,j} k(x_i,x_j) + 1/m^2 sum_{i,j} k(y_i,y_j) - 2/(nm) sum k(x_i,y_j).

    It is the squared RKHS distance between the two empirical mean embeddings, hence >= 0 (up to rounding).
    Arguments as in :func:`mmd2_unbiased`.
    """
    x, y, bws = _prepare(x, y, bandwidths, min_n=1)
    n, m = x.shape[0], y.shape[0]
    kxx = _self_kernel_sum(x, bws, chunk_size, off_diagonal=False)
    kyy = _self_kernel_sum(y, bws, chunk_size, off_diagonal=False)
    kxy = _kernel_sum(x, y, bws, chunk_size)
    return kxx / n**2 + kyy / m**2 - 2.0 * kxy / (n * m)


def mmd(x: Tensor, y: Tensor, bandwidths: Bandwidths | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE) -> MMDResult:
    """The unbiased MMD_u^2 between X and Y, with the bandwidths it used (see :func:`mmd2_unbiased`)."""
    x, y, bws = _prepare(x, y, bandwidths, min_n=2)
    return MMDResult(mmd2=mmd2_unbiased(x, y, bws, chunk_size), bandwidths=bws, n_x=x.shape[0], n_y=y.shape[0])
