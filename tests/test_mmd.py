"""MMD with a mixture-of-bandwidths RBF kernel: hand-computed cases, chunking, statistics, closed forms."""

from __future__ import annotations

import math

import pytest
import torch

import rfpipe.mmd as mmd_module
from rfpipe.mmd import (
    DEFAULT_MULTIPLIERS,
    MMDResult,
    median_bandwidth,
    mmd,
    mmd2_biased,
    mmd2_unbiased,
    rbf_kernel,
)

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ref_kernel(x: torch.Tensor, y: torch.Tensor, bws) -> torch.Tensor:
    """Dense reference kernel from explicit differences (no norm expansion): mean_h exp(-||x - y||^2 / (2 h^2))."""
    bws = (bws,) if isinstance(bws, float) else bws
    d2 = ((x.flatten(1)[:, None, :] - y.flatten(1)[None, :, :]) ** 2).sum(-1)
    return sum(torch.exp(-d2 / (2 * h * h)) for h in bws) / len(bws)


def _ref_mmd2_unbiased(x, y, bws) -> float:
    """Dense U-statistic straight from the formula."""
    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = _ref_kernel(x, x, bws), _ref_kernel(y, y, bws), _ref_kernel(x, y, bws)
    return float((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
                 + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.sum() / (n * m))


def _u_stat_std(x, y, bws, n: int, sub: int = 500) -> float:
    """Approximate standard deviation of MMD_u^2 at sample size n = m, estimated on a subsample.

    With z_i = (x_i, y_i) and h(z_i, z_j) = k(x_i, x_j) + k(y_i, y_j) - k(x_i, y_j) - k(x_j, y_i), MMD_u^2 is
    (up to O(1/n) cross terms) a U-statistic of order 2, whose variance is (Hoeffding)
    4 (n - 2) / (n (n - 1)) zeta_1 + 2 / (n (n - 1)) zeta_2 with zeta_1 = Var E[h(z, z') | z] and
    zeta_2 = Var h(z, z'). Both are estimated from the first ``sub`` pairs.
    """
    x, y = x[:sub], y[:sub]
    kxy = rbf_kernel(x, y, bws)  # checked against _ref_kernel above
    h = rbf_kernel(x, x, bws) + rbf_kernel(y, y, bws) - kxy - kxy.T
    off = ~torch.eye(sub, dtype=torch.bool)
    row_means = (h * off).sum(1) / (sub - 1)
    zeta_1, zeta_2 = float(row_means.var()), float(h[off].var())
    return math.sqrt(4 * (n - 2) / (n * (n - 1)) * zeta_1 + 2 / (n * (n - 1)) * zeta_2)


def _population_mmd2(d: int, s: float, mu_norm: float, bws) -> float:
    """MMD^2 between N(0, s^2 I_d) and N(mu, s^2 I_d) for the kernel mean_h exp(-||x - y||^2 / (2 h^2)):
    per bandwidth 2 (h^2 / (h^2 + 2 s^2))^{d/2} (1 - exp(-||mu||^2 / (2 (h^2 + 2 s^2))))."""
    bws = (bws,) if isinstance(bws, float) else bws
    return sum(2 * (h * h / (h * h + 2 * s * s)) ** (d / 2) * (1 - math.exp(-mu_norm**2 / (2 * (h * h + 2 * s * s))))
               for h in bws) / len(bws)


# ----------------------------------------------------------------------------------------------- kernel


@pytest.mark.parametrize("bandwidths", [1.0, (1.0, 2.0), (0.5, 1.0, 2.0)])
def test_rbf_kernel_hand_computed(bandwidths):
    """x = (0, 0), (1, 0); y = (0, 2): squared distances 4 and 5, so K = [[e(4)], [e(5)]] with
    e(r2) = mean_h exp(-r2 / (2 h^2))."""
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=F64)
    y = torch.tensor([[0.0, 2.0]], dtype=F64)
    bws = (bandwidths,) if isinstance(bandwidths, float) else bandwidths
    e4 = sum(math.exp(-4 / (2 * h * h)) for h in bws) / len(bws)
    e5 = sum(math.exp(-5 / (2 * h * h)) for h in bws) / len(bws)
    k = rbf_kernel(x, y, bandwidths)
    assert k.shape == (2, 1) and k.dtype == F64
    assert k[0, 0].item() == pytest.approx(e4, rel=1e-14)
    assert k[1, 0].item() == pytest.approx(e5, rel=1e-14)
    assert rbf_kernel(x, x, bandwidths).diagonal().tolist() == pytest.approx([1.0, 1.0], abs=1e-15)


def test_rbf_kernel_single_bandwidth_explicit_values():
    """h = 1: exp(-2) and exp(-5 / 2) for the configuration above."""
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=F64)
    y = torch.tensor([[0.0, 2.0]], dtype=F64)
    assert rbf_kernel(x, y, 1.0)[:, 0].tolist() == pytest.approx([math.exp(-2.0), math.exp(-2.5)], rel=1e-14)


@pytest.mark.parametrize("bandwidths", [0.3, 1.0, (0.5, 1.0, 2.0)])
@pytest.mark.parametrize("d", [1, 3, 50])
def test_rbf_kernel_matches_dense_reference(d, bandwidths):
    """Norm-expansion kernel == explicit-difference kernel, symmetric, in [0, 1], ones on the diagonal."""
    g = _gen(d)
    x, y = torch.randn(30, d, generator=g, dtype=F64), torch.randn(20, d, generator=g, dtype=F64) + 0.3
    torch.testing.assert_close(rbf_kernel(x, y, bandwidths), _ref_kernel(x, y, bandwidths), rtol=0, atol=1e-13)
    torch.testing.assert_close(rbf_kernel(y, x, bandwidths), rbf_kernel(x, y, bandwidths).T, rtol=0, atol=1e-13)
    kxx = rbf_kernel(x, x, bandwidths)
    assert ((kxx >= 0) & (kxx <= 1 + 1e-15)).all()  # far pairs may underflow to 0
    # the norm expansion leaves a cancellation error of order eps ||x||^2 / h^2 in the diagonal
    torch.testing.assert_close(kxx.diagonal(), torch.ones(30, dtype=F64), rtol=0, atol=1e-12)


def test_inputs_flattened_and_cast():
    """Image-shaped (N, C, H, W) samples equal their flattening; float32 inputs are computed in float64;
    1-D inputs are N scalar samples."""
    g = _gen(3)
    x, y = torch.randn(9, 1, 2, 3, generator=g), torch.randn(7, 1, 2, 3, generator=g)
    assert rbf_kernel(x, y, 1.5).dtype == F64
    torch.testing.assert_close(rbf_kernel(x, y, 1.5), rbf_kernel(x.flatten(1).double(), y.flatten(1).double(), 1.5))
    assert mmd2_unbiased(x, y, 1.5) == pytest.approx(mmd2_unbiased(x.reshape(9, 6), y.reshape(7, 6), 1.5), abs=1e-15)
    a, b = torch.randn(8, generator=g, dtype=F64), torch.randn(6, generator=g, dtype=F64)
    assert mmd2_unbiased(a, b, 1.0) == pytest.approx(mmd2_unbiased(a[:, None], b[:, None], 1.0), abs=1e-15)


# ------------------------------------------------------------------------------------------ estimators


@pytest.mark.parametrize("h", [0.5, 1.0, 2.0])
def test_mmd2_hand_computed(h):
    """X = {0, 1}, Y = {2, 4} on the line, one bandwidth h, e(r) = exp(-r^2 / (2 h^2)):

    unbiased = [2 e(1)] / 2 + [2 e(2)] / 2 - 2/4 [e(2) + e(4) + e(1) + e(3)],
    biased   = [2 + 2 e(1)] / 4 + [2 + 2 e(2)] / 4 - 2/4 [e(2) + e(4) + e(1) + e(3)].
    """
    def e(r: float) -> float:
        return math.exp(-r * r / (2 * h * h))

    x = torch.tensor([[0.0], [1.0]], dtype=F64)
    y = torch.tensor([[2.0], [4.0]], dtype=F64)
    cross = 0.5 * (e(2) + e(4) + e(1) + e(3))
    unbiased = e(1) + e(2) - cross
    biased = (2 + 2 * e(1)) / 4 + (2 + 2 * e(2)) / 4 - cross
    assert mmd2_unbiased(x, y, h) == pytest.approx(unbiased, rel=1e-13, abs=1e-15)
    assert mmd2_biased(x, y, h) == pytest.approx(biased, rel=1e-13, abs=1e-15)
    assert mmd(x, y, h).mmd2 == pytest.approx(unbiased, rel=1e-13, abs=1e-15)


def test_mmd2_hand_computed_three_points_explicit():
    """X = {0, 1, 2}, Y = {(3,)} would need m >= 2, so Y = {3, 3}: k(y, y') = 1 and h = 1:

    unbiased = (4 e^{-1/2} + 2 e^{-2}) / 6 + 2 / 2 - 2/6 (2 e^{-9/2} + 2 e^{-2} + 2 e^{-1/2}).
    """
    x = torch.tensor([[0.0], [1.0], [2.0]], dtype=F64)
    y = torch.tensor([[3.0], [3.0]], dtype=F64)
    expected = (4 * math.exp(-0.5) + 2 * math.exp(-2.0)) / 6 + 1.0 \
        - (2 * math.exp(-4.5) + 2 * math.exp(-2.0) + 2 * math.exp(-0.5)) / 3
    assert mmd2_unbiased(x, y, 1.0) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("bandwidths", [None, 0.7, (0.5, 1.0, 2.0)])
@pytest.mark.parametrize("d", [1, 3, 50])
def test_chunked_equals_unchunked_and_dense(d, bandwidths):
    """Any chunk size (1, 7, 64, all rows) gives the dense formula to 1e-12, for unequal n, m not divisible by it."""
    g = _gen(10 + d)
    x = torch.randn(150, d, generator=g, dtype=F64)
    y = 1.1 * torch.randn(97, d, generator=g, dtype=F64) + 0.2
    bws = mmd_module.resolve_bandwidths(x, y, bandwidths)
    dense = _ref_mmd2_unbiased(x, y, bws)
    full_u = mmd2_unbiased(x, y, bandwidths, chunk_size=1000)
    full_b = mmd2_biased(x, y, bandwidths, chunk_size=1000)
    assert full_u == pytest.approx(dense, abs=1e-12)
    for chunk in (1, 7, 64):
        assert mmd2_unbiased(x, y, bandwidths, chunk_size=chunk) == pytest.approx(full_u, abs=1e-12)
        assert mmd2_biased(x, y, bandwidths, chunk_size=chunk) == pytest.approx(full_b, abs=1e-12)


def test_chunks_bound_memory(monkeypatch):
    """No kernel block ever has more than chunk_size rows (so the n x m matrix is never built)."""
    rows: list[int] = []
    original = mmd_module._kernel_block

    def spy(a, b, b_sq, bws):
        rows.append(a.shape[0])
        return original(a, b, b_sq, bws)

    monkeypatch.setattr(mmd_module, "_kernel_block", spy)
    g = _gen(4)
    x, y = torch.randn(300, 5, generator=g, dtype=F64), torch.randn(250, 5, generator=g, dtype=F64)
    mmd2_unbiased(x, y, 1.0, chunk_size=32)
    assert rows and max(rows) <= 32


def test_biased_and_unbiased_from_kernel_sums():
    """Both estimators from the same sums S_xx = sum_{i != j} k(x_i, x_j), S_yy, S_xy = sum_{i, j} k(x_i, y_j):
    MMD_b^2 = (n + S_xx) / n^2 + (m + S_yy) / m^2 - 2 S_xy / (n m) (as k(x, x) = 1) and
    MMD_u^2 = S_xx / (n (n - 1)) + S_yy / (m (m - 1)) - 2 S_xy / (n m), here with n = 40, m = 30."""
    g = _gen(5)
    x, y = torch.randn(40, 3, generator=g, dtype=F64), torch.randn(30, 3, generator=g, dtype=F64)
    kxx, kyy, kxy = _ref_kernel(x, x, 1.0), _ref_kernel(y, y, 1.0), _ref_kernel(x, y, 1.0)
    s_xx, s_yy, s_xy = (float(kxx.sum() - 40), float(kyy.sum() - 30), float(kxy.sum()))
    assert mmd2_biased(x, y, 1.0) == pytest.approx((40 + s_xx) / 1600 + (30 + s_yy) / 900 - 2 * s_xy / 1200, abs=1e-13)
    assert mmd2_unbiased(x, y, 1.0) == pytest.approx(s_xx / 1560 + s_yy / 870 - 2 * s_xy / 1200, abs=1e-13)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_biased_is_nonnegative(seed):
    """The V-statistic is a squared RKHS distance of empirical embeddings, so >= 0, even for equal laws."""
    g = _gen(seed)
    x, y = torch.randn(50, 4, generator=g, dtype=F64), torch.randn(60, 4, generator=g, dtype=F64)
    assert mmd2_biased(x, y) >= -1e-13
    assert mmd2_biased(x, x) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("bandwidths", [None, 1.0])
def test_symmetric_in_x_and_y(bandwidths):
    """MMD^2(X, Y) = MMD^2(Y, X), including the median heuristic with subsampling (n + m > 2000)."""
    g = _gen(6)
    x, y = torch.randn(1300, 3, generator=g, dtype=F64), torch.randn(750, 3, generator=g, dtype=F64) + 0.4
    assert mmd2_unbiased(x, y, bandwidths) == pytest.approx(mmd2_unbiased(y, x, bandwidths), abs=1e-12)
    assert mmd2_biased(x, y, bandwidths) == pytest.approx(mmd2_biased(y, x, bandwidths), abs=1e-12)
    assert median_bandwidth(x, y) == median_bandwidth(y, x)


# ----------------------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("bw", ["median", "sqrt_d"])
@pytest.mark.parametrize("d", [2, 10, 50])
@pytest.mark.parametrize("seed", [0, 1])
def test_unbiased_near_zero_for_same_distribution(seed, d, bw):
    """Two independent samples of N(0, I_d): |MMD_u^2| within 5 estimated standard errors (a zeta_2 / n^2 term,
    zeta_1 = 0 under the null), and the biased estimate exceeds it by exactly (2 - kbar_xx - kbar_yy) / n,
    kbar the mean kernel value off the diagonal (k(x, x) = 1)."""
    n = 1000
    g = _gen(100 * seed + d)
    x, y = torch.randn(n, d, generator=g, dtype=F64), torch.randn(n, d, generator=g, dtype=F64)
    bws = mmd_module.resolve_bandwidths(x, y) if bw == "median" else math.sqrt(d)
    est = mmd2_unbiased(x, y, bws)
    tol = 5 * _u_stat_std(x, y, bws, n)
    assert tol < 5 * math.sqrt(8) / n  # no looser than the worst case: |h| <= 2, so 2 Var h / n^2 <= 8 / n^2
    assert abs(est) < tol
    kbar = [(float(rbf_kernel(z, z, bws).sum()) - n) / (n * (n - 1)) for z in (x, y)]
    assert mmd2_biased(x, y, bws) - est == pytest.approx((2 - sum(kbar)) / n, rel=1e-9)
    assert mmd2_biased(x, y, bws) > est


@pytest.mark.parametrize("bw", ["median", "sqrt_d"])
@pytest.mark.parametrize("d", [2, 10])
def test_monotone_in_mean_shift(d, bw):
    """Shifting Y by 0, 0.5, 1, 2 (along a fixed unit vector; common random numbers) increases MMD_u^2."""
    n = 800
    g = _gen(20 + d)
    x, y0 = torch.randn(n, d, generator=g, dtype=F64), torch.randn(n, d, generator=g, dtype=F64)
    u = torch.randn(d, generator=g, dtype=F64)
    u = u / u.norm()
    values = []
    for shift in (0.0, 0.5, 1.0, 2.0):
        y = y0 + shift * u
        bws = None if bw == "median" else math.sqrt(d)
        values.append(mmd2_unbiased(x, y, bws))
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert abs(values[0]) < 5 * math.sqrt(8) / n


@pytest.mark.parametrize(
    ("d", "s", "mu_norm", "bandwidths"),
    [(1, 1.0, 1.0, 1.0), (2, 1.0, 1.5, 2.0), (5, 0.5, 1.0, 1.0), (10, 1.0, 2.0, 4.0), (3, 1.0, 1.0, (0.5, 1.0, 2.0))],
)
def test_matches_gaussian_closed_form(d, s, mu_norm, bandwidths):
    """X ~ N(0, s^2 I), Y ~ N(mu, s^2 I):
    E MMD_u^2 = mean_h 2 (h^2 / (h^2 + 2 s^2))^{d/2} (1 - exp(-||mu||^2 / (2 (h^2 + 2 s^2))));
    the n = 4000 estimate is within 5 estimated standard errors (Hoeffding variance, see _u_stat_std)."""
    n = 4000
    g = _gen(1000 + d)
    mu = torch.zeros(d, dtype=F64)
    mu[0] = mu_norm
    x = s * torch.randn(n, d, generator=g, dtype=F64)
    y = mu + s * torch.randn(n, d, generator=g, dtype=F64)
    expected = _population_mmd2(d, s, mu_norm, bandwidths)
    est = mmd2_unbiased(x, y, bandwidths)
    tol = 5 * _u_stat_std(x, y, bandwidths, n)
    assert tol < 0.25 * expected  # the check has power: the tolerance is well below the value
    assert est == pytest.approx(expected, abs=tol)


# ---------------------------------------------------------------------------------- median heuristic


def test_median_bandwidth_points_on_a_line():
    """{0, 1} u {3}: distances 1, 3, 2 -> median 2; {0, 1} u {3, 7}: 1, 3, 7, 2, 6, 4 -> (3 + 4) / 2 = 3.5."""
    assert median_bandwidth(torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0]])) == pytest.approx(2.0, abs=1e-15)
    assert median_bandwidth(torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0], [7.0]])) == pytest.approx(3.5,
                                                                                                     abs=1e-15)


@pytest.mark.parametrize("d", [2, 5])
def test_median_bandwidth_line_embedded_and_rotated(d):
    """The same line configuration, embedded in R^d along a random unit vector and shifted: median 3.5."""
    g = _gen(d)
    u = torch.randn(d, generator=g, dtype=F64)
    u = u / u.norm()
    c = torch.randn(d, generator=g, dtype=F64)
    pts = c + torch.tensor([0.0, 1.0, 3.0, 7.0], dtype=F64)[:, None] * u
    assert median_bandwidth(pts[:2], pts[2:]) == pytest.approx(3.5, abs=1e-12)


def test_median_bandwidth_subsample():
    """Above max_points: deterministic per seed, seed-dependent, and close to the full-sample median."""
    g = _gen(7)
    x, y = torch.randn(1200, 4, generator=g, dtype=F64), torch.randn(900, 4, generator=g, dtype=F64) + 0.5
    a, b = median_bandwidth(x, y, max_points=800), median_bandwidth(x, y, max_points=800)
    assert a == b
    assert median_bandwidth(x, y, max_points=800, seed=1) != a
    full = median_bandwidth(x, y, max_points=None)
    assert a == pytest.approx(full, rel=0.03)
    assert median_bandwidth(x, y, max_points=10) > 0


def test_mmd_result_and_default_bandwidths():
    """mmd() returns the unbiased estimate, the sample sizes and bandwidths (0.5, 1, 2) * median."""
    g = _gen(8)
    x, y = torch.randn(60, 3, generator=g, dtype=F64), torch.randn(45, 3, generator=g, dtype=F64) + 1.0
    res = mmd(x, y)
    assert isinstance(res, MMDResult)
    assert DEFAULT_MULTIPLIERS == (0.5, 1.0, 2.0)
    h = median_bandwidth(x, y)
    assert res.bandwidths == pytest.approx((0.5 * h, h, 2 * h), rel=1e-12)
    assert (res.n_x, res.n_y) == (60, 45)
    assert isinstance(res.mmd2, float) and res.mmd2 == pytest.approx(mmd2_unbiased(x, y), abs=1e-14)
    assert mmd(x, y, 2.0).bandwidths == (2.0,)


def test_invalid_inputs():
    """Too few samples, mismatched dimensions and non-positive bandwidths raise."""
    x = torch.randn(5, 3, generator=_gen(9), dtype=F64)
    with pytest.raises(ValueError):
        mmd2_unbiased(x[:1], x, 1.0)
    with pytest.raises(ValueError):
        mmd2_unbiased(x, x[:, :2], 1.0)
    for bad in (0.0, -1.0, (), (1.0, float("inf"))):
        with pytest.raises(ValueError):
            rbf_kernel(x, x, bad)
    with pytest.raises(ValueError):
        median_bandwidth(torch.zeros(3, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError):
        mmd2_unbiased(x, x, 1.0, chunk_size=0)
