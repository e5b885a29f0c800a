"""The Table 1 Gaussian mixture: default layout, moments, density, component assignment, training pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from rfpipe.mixture import GaussianMixture, paired_training_set

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _custom() -> GaussianMixture:
    """Three components in d = 2 with unequal weights and scales."""
    return GaussianMixture(means=torch.tensor([[0.0, 0.0], [4.0, 1.0], [-2.0, 3.0]], dtype=F64),
                           scales=torch.tensor([0.5, 1.0, 0.3], dtype=F64),
                           weights=torch.tensor([0.2, 0.5, 0.3], dtype=F64))


def _closed_form(mix: GaussianMixture) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean sum_k w_k mu_k and covariance sum_k w_k (s_k^2 I + mu_k mu_k^T) - m m^T, written as explicit loops."""
    d = mix.dim
    m = torch.zeros(d, dtype=F64)
    second = torch.zeros(d, d, dtype=F64)
    for w, mu, s in zip(mix.weights, mix.means, mix.scales):
        m += w * mu
        second += w * (s**2 * torch.eye(d, dtype=F64) + torch.outer(mu, mu))
    return m, second - torch.outer(m, m)


MIXTURES = {
    "default-d2": lambda: GaussianMixture.default(2),
    "default-d3": lambda: GaussianMixture.default(3),
    "default-d50": lambda: GaussianMixture.default(50),
    "custom-d2": _custom,
}


# ------------------------------------------------------------------------------------------- layout


@pytest.mark.parametrize("d", [1, 2, 3, 10, 50])
def test_default_shapes_and_dtypes(d):
    """K = 8 means (8, d), scales 0.5, equal weights, all float64; samples (n, d) float64; labels, components int64."""
    mix = GaussianMixture.default(d)
    assert mix.means.shape == (8, d) and mix.scales.shape == (8,) and mix.weights.shape == (8,)
    assert mix.means.dtype == mix.scales.dtype == mix.weights.dtype == F64
    assert (mix.dim, mix.n_components) == (d, 8)
    assert torch.equal(mix.scales, torch.full((8,), 0.5, dtype=F64))
    assert torch.equal(mix.weights, torch.full((8,), 1 / 8, dtype=F64))
    x, labels = mix.sample_with_labels(11, _gen(0))
    assert x.shape == (11, d) and x.dtype == F64 and labels.dtype == torch.int64
    assert mix.sample(11, _gen(0)).shape == (11, d)
    assert mix.log_prob(x).shape == (11,) and mix.log_prob(x).dtype == F64
    assert mix.component(x).shape == (11,) and mix.component(x).dtype == torch.int64


@pytest.mark.parametrize("d", [2, 3, 10, 50])
def test_default_means_on_sphere_and_well_separated(d):
    """||mu_k|| = radius; in d = 2 the means are a regular octagon (closest two exactly 2 r sin(pi/8) = 0.77 r
    apart, 7.7 standard deviations), in higher d at least 1.1 r (11 standard deviations)."""
    mix = GaussianMixture.default(d, radius=5.0, scale=0.5)
    torch.testing.assert_close(mix.means.norm(dim=1), torch.full((8,), 5.0, dtype=F64), rtol=1e-12, atol=0)
    gap = float(torch.pdist(mix.means).min())
    if d == 2:
        assert gap == pytest.approx(2 * 5.0 * math.sin(math.pi / 8), rel=1e-12)
    else:
        assert gap >= 1.1 * 5.0


def test_default_d2_circle_and_d1_line():
    """d = 2: mu_k = 5 (cos 2 pi k / 8, sin 2 pi k / 8); d = 1: evenly spaced on [-5, 5]."""
    mix = GaussianMixture.default(2)
    for k in range(8):
        a = 2 * math.pi * k / 8
        assert mix.means[k].tolist() == pytest.approx([5 * math.cos(a), 5 * math.sin(a)], abs=1e-14)
    assert GaussianMixture.default(1).means[:, 0].tolist() == pytest.approx([-5 + 10 * k / 7 for k in range(8)])


@pytest.mark.parametrize("d", [3, 50])
def test_default_deterministic_per_seed(d):
    """Same seed, same means; another seed, other means (d >= 3 only; d = 2 ignores the seed)."""
    assert torch.equal(GaussianMixture.default(d, seed=3).means, GaussianMixture.default(d, seed=3).means)
    assert not torch.allclose(GaussianMixture.default(d, seed=3).means, GaussianMixture.default(d, seed=4).means)
    assert torch.equal(GaussianMixture.default(2, seed=3).means, GaussianMixture.default(2, seed=4).means)


# ------------------------------------------------------------------------------------------ moments


@pytest.mark.parametrize("name", list(MIXTURES))
def test_closed_form_moments_methods(name):
    """mean() and covariance() equal the loop-written closed forms."""
    mix = MIXTURES[name]()
    m, c = _closed_form(mix)
    torch.testing.assert_close(mix.mean(), m, rtol=0, atol=1e-12)
    torch.testing.assert_close(mix.covariance(), c, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", list(MIXTURES))
def test_sample_moments_match_closed_form(name):
    """Sample mean and covariance of n = 100,000 draws within 5 standard errors of the closed forms.

    Standard errors: sqrt(C_ii / n) for the mean; for the covariance entry (i, j) sqrt(Var[(x_i - m_i)(x_j - m_j)] / n),
    the variance estimated from the same draws (the sample mean's own error is of lower order).
    """
    mix = MIXTURES[name]()
    n = 100_000
    x = mix.sample(n, _gen(11))
    m, c = _closed_form(mix)
    se_mean = (c.diagonal() / n).sqrt()
    assert ((x.mean(0) - m).abs() <= 5 * se_mean).all()
    xc = x - m
    prod = xc[:, :, None] * xc[:, None, :] if mix.dim <= 3 else None
    if prod is not None:
        var_prod = prod.var(0)
    else:  # avoid the (n, d, d) tensor in d = 50: E[(x_i x_j)^2] - C_ij^2 from two matmuls
        sq = xc * xc
        var_prod = sq.T @ sq / n - (xc.T @ xc / n) ** 2
    se_cov = (var_prod / n).sqrt()
    emp_cov = torch.cov(x.T)
    assert ((emp_cov - c).abs() <= 5 * se_cov + 1e-12).all()


def test_component_counts_are_multinomial():
    """Component counts of n draws within 5 sqrt(n w (1 - w)) of n w, for unequal weights."""
    mix = _custom()
    n = 50_000
    _, labels = mix.sample_with_labels(n, _gen(12))
    counts = torch.bincount(labels, minlength=3).to(F64)
    w = mix.weights
    assert ((counts - n * w).abs() <= 5 * (n * w * (1 - w)).sqrt()).all()


def test_sample_given_labels_is_component_gaussian():
    """Draws of each component have mean mu_k and per-coordinate std s_k (within Monte Carlo error)."""
    mix = _custom()
    x, labels = mix.sample_with_labels(60_000, _gen(13))
    for k in range(3):
        xk = x[labels == k]
        nk = xk.shape[0]
        s = float(mix.scales[k])
        assert ((xk.mean(0) - mix.means[k]).abs() <= 5 * s / math.sqrt(nk)).all()
        assert ((xk.std(0) - s).abs() <= 5 * s / math.sqrt(2 * nk)).all()


# ------------------------------------------------------------------------------------------ density


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_log_prob_matches_scipy(d):
    """log p equals log sum_k w_k N(x; mu_k, s_k^2 I) computed by scipy, at samples and at far-away points."""
    g = _gen(20 + d)
    k = 4
    means = 3 * torch.randn(k, d, generator=g, dtype=F64)
    scales = 0.3 + torch.rand(k, generator=g, dtype=F64)
    weights = torch.rand(k, generator=g, dtype=F64) + 0.1
    mix = GaussianMixture(means, scales, weights / weights.sum())
    x = torch.cat([mix.sample(30, g), 6 * torch.randn(10, d, generator=g, dtype=F64)])
    dens = sum(float(w) * multivariate_normal(mean=mu.numpy(), cov=float(s) ** 2 * np.eye(d)).pdf(x.numpy())
               for mu, s, w in zip(mix.means, mix.scales, mix.weights))
    np.testing.assert_allclose(mix.log_prob(x).numpy(), np.log(dens), rtol=1e-10, atol=1e-10)


def test_log_prob_normalises_d1():
    """d = 1, default mixture: trapezoid integral of p over [-12, 12] (step 1e-3) is 1 to 1e-8."""
    mix = GaussianMixture.default(1)
    grid = torch.linspace(-12, 12, 24_001, dtype=F64)
    mass = torch.trapezoid(mix.log_prob(grid[:, None]).exp(), grid)
    assert float(mass) == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("name", ["default-d2", "custom-d2"])
def test_log_prob_normalises_d2(name):
    """d = 2: Riemann sum of p on a 0.02 grid over [-9, 9]^2 is 1 to 1e-6 (tails beyond 8 std are negligible)."""
    mix = MIXTURES[name]()
    h = 0.02
    axis = torch.arange(-9, 9 + h / 2, h, dtype=F64)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    p = mix.log_prob(torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)).exp()
    assert float(p.sum() * h * h) == pytest.approx(1.0, abs=1e-6)


def test_component_log_prob_posterior():
    """log p = logsumexp_k of component_log_prob, and a point at a mean is most probably from that component."""
    mix = _custom()
    lp = mix.component_log_prob(mix.means)
    assert lp.shape == (3, 3)
    torch.testing.assert_close(torch.logsumexp(lp, 1), mix.log_prob(mix.means))
    assert torch.equal(lp.argmax(1), torch.arange(3))


# -------------------------------------------------------------------------------------- assignment


@pytest.mark.parametrize("d", [2, 3, 50])
def test_component_recovers_generating_component(d):
    """Nearest-mean assignment of default-mixture samples recovers the generating component for > 99 %."""
    mix = GaussianMixture.default(d)
    x, labels = mix.sample_with_labels(20_000, _gen(30 + d))
    assert (mix.component(x) == labels).to(F64).mean() > 0.99


def test_component_of_means_and_hand_case():
    """Each mean is assigned to itself; (3.9, 1.1) goes to (4, 1), (-1, 1.4) is nearer (0, 0) than (-2, 3)."""
    mix = _custom()
    assert torch.equal(mix.component(mix.means), torch.arange(3))
    assert mix.component(torch.tensor([[3.9, 1.1], [-1.0, 1.4]], dtype=F64)).tolist() == [1, 0]


# ---------------------------------------------------------------------------------------- sampling


def test_sample_reproducible_per_generator_seed():
    """The same generator seed gives the same draws; another seed others."""
    mix = GaussianMixture.default(3)
    assert torch.equal(mix.sample(100, _gen(1)), mix.sample(100, _gen(1)))
    assert not torch.equal(mix.sample(100, _gen(1)), mix.sample(100, _gen(2)))


@pytest.mark.parametrize("d", [3, 50])
def test_paired_training_set(d):
    """float32 (n, d) pairs; same seed same data, another seed other data; x_0 ~ N(0, I), x_1 ~ the mixture,
    drawn independently (cross-covariance within 5 standard errors of 0)."""
    mix = GaussianMixture.default(d)
    n = 20_000
    x_0, x_1 = paired_training_set(mix, n, seed=5)
    assert x_0.shape == x_1.shape == (n, d) and x_0.dtype == x_1.dtype == torch.float32
    a_0, a_1 = paired_training_set(mix, n, seed=5)
    assert torch.equal(x_0, a_0) and torch.equal(x_1, a_1)
    b_0, b_1 = paired_training_set(mix, n, seed=6)
    assert not torch.equal(x_0, b_0) and not torch.equal(x_1, b_1)
    x_0, x_1 = x_0.double(), x_1.double()
    assert (x_0.mean(0).abs() <= 5 / math.sqrt(n)).all()
    assert ((x_0.var(0) - 1).abs() <= 5 * math.sqrt(2 / n)).all()
    # independence: Cov(x_0, x_1)_{ij} has standard error sqrt(Var x_1j / n) since Var x_0i = 1
    cross = (x_0 - x_0.mean(0)).T @ (x_1 - x_1.mean(0)) / n
    se = (mix.covariance().diagonal() / n).sqrt()
    assert (cross.abs() <= 5 * se[None, :]).all()
    # the targets follow the mixture: nearly every x_1 lies within 6 std of its nearest mean
    assert ((x_1 - mix.means[mix.component(x_1)]).norm(dim=1) <= 0.5 * (math.sqrt(d) + 6)).all()


def test_invalid_mixtures():
    """Wrong shapes, non-positive scales, weights not summing to 1 and wrong x shapes raise."""
    means = torch.zeros(2, 3, dtype=F64)
    with pytest.raises(ValueError):
        GaussianMixture(means, torch.ones(3, dtype=F64), torch.full((2,), 0.5, dtype=F64))
    with pytest.raises(ValueError):
        GaussianMixture(means, torch.tensor([1.0, 0.0], dtype=F64), torch.full((2,), 0.5, dtype=F64))
    with pytest.raises(ValueError):
        GaussianMixture(means, torch.ones(2, dtype=F64), torch.tensor([0.5, 0.6], dtype=F64))
    with pytest.raises(ValueError):
        GaussianMixture.default(0)
    with pytest.raises(ValueError):
        GaussianMixture.default(3).log_prob(torch.zeros(4, 2))
