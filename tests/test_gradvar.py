"""Per-sample gradients and their variance statistics (trace of covariance, mean norm, ratio, t-bins)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rfpipe.couplings import AffineCoupling
from rfpipe.gradvar import SampleGrads, grad_var_stats, grad_variance, per_sample_grads, sample_grads
from rfpipe.interpolants import Interpolant, InterpolantSample
from rfpipe.models import MLP


def _batch(b=12, d=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x_0 = torch.randn(b, d, generator=g, dtype=dtype)
    x_1 = torch.randn(b, d, generator=g, dtype=dtype) + 2
    t = torch.rand(b, generator=g, dtype=dtype)
    z = torch.randn(b, d, generator=g, dtype=dtype)
    return Interpolant(0.1, "constant").sample(x_0, x_1, t, z)


def _stats(losses, grads, mask=None, **kw):
    """grad_var_stats on explicit per-sample gradients (B, P)."""
    g = grads.double()
    return grad_var_stats(SampleGrads(losses, (g ** 2).sum(1), [(g,)]), mask, **kw)


def _mlp(d=2, seed=0, activation="silu", time_conditioning="input"):
    torch.manual_seed(seed)
    return MLP(d, width=8, depth=2, activation=activation, time_features=2 if time_conditioning == "scale" else 0,
               time_conditioning=time_conditioning).double()


def _naive(model, batch):
    """One autograd backward per sample: losses (B,) and flattened gradients (B, P)."""
    losses, grads = [], []
    params = list(model.parameters())
    for i in range(batch.x_t.shape[0]):
        v = model(batch.x_t[i:i + 1], batch.t[i:i + 1])
        loss = ((v[0] - batch.dx_t[i]) ** 2).sum()
        gs = torch.autograd.grad(loss, params)
        losses.append(loss.detach())
        grads.append(torch.cat([g.reshape(-1) for g in gs]))
    return torch.stack(losses), torch.stack(grads)


@pytest.mark.parametrize("time_conditioning", ["input", "scale"])
@pytest.mark.parametrize("activation", ["silu", "tanh", "relu"])
@pytest.mark.parametrize("d", [2, 3])
def test_per_sample_grads_match_naive_loop(d, activation, time_conditioning):
    """vmap per-sample gradients equal one torch.autograd backward per sample (rel. 1e-6)."""
    model = _mlp(d, activation=activation, time_conditioning=time_conditioning)
    batch = _batch(b=9, d=d)
    losses, grads = per_sample_grads(model, batch)
    ref_losses, ref_grads = _naive(model, batch)
    n_params = sum(p.numel() for p in model.parameters())
    assert grads.shape == (9, n_params) and losses.shape == (9,)
    torch.testing.assert_close(losses, ref_losses, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(grads, ref_grads, rtol=1e-6, atol=1e-12)


def test_per_sample_grads_leave_model_untouched():
    """Computing per-sample gradients neither changes parameters nor fills .grad."""
    model = _mlp()
    before = [p.detach().clone() for p in model.parameters()]
    per_sample_grads(model, _batch())
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))


class _Linear(nn.Module):
    """v(x, t) = W x + b (t ignored)."""

    def __init__(self, w, b):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(b.clone())

    def forward(self, x, t):
        return x @ self.w.T + self.b


def test_per_sample_grads_linear_closed_form():
    """For v = W x + b: grad_b = 2 r, grad_W = 2 r x^T with r = v(x_t) - dx_t (hand-derived)."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(2, 2, generator=g, dtype=torch.float64)
    b = torch.randn(2, generator=g, dtype=torch.float64)
    model = _Linear(w, b)
    batch = _batch(b=5, seed=2)
    losses, grads = per_sample_grads(model, batch)
    r = batch.x_t @ w.T + b - batch.dx_t
    grad_w = 2 * r[:, :, None] * batch.x_t[:, None, :]
    expected = torch.cat([grad_w.reshape(5, -1), 2 * r], dim=1)  # parameter order: w, b
    torch.testing.assert_close(grads, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses, (r ** 2).sum(1), rtol=1e-12, atol=1e-12)


def test_grad_var_stats_hand_computed():
    """Unbiased trace of covariance, squared norm of the mean and their ratio on a tiny hand example."""
    grads = torch.tensor([[1.0, 0.0], [3.0, 2.0], [2.0, 4.0]], dtype=torch.float64)
    losses = torch.tensor([1.0, 2.0, 6.0], dtype=torch.float64)
    s = _stats(losses, grads, t_bin=3, t_low=0.3, t_high=0.4)
    # mean = (2, 2); squared deviations: (1 + 4) + (1 + 0) + (0 + 4) = 10; / (3 - 1) = 5.
    assert s.grad_var_trace == pytest.approx(5.0, rel=1e-15)
    assert s.grad_mean_sqnorm == pytest.approx(8.0, rel=1e-15)
    assert s.grad_var_ratio == pytest.approx(5.0 / 8.0, rel=1e-15)
    assert s.loss == pytest.approx(3.0, rel=1e-15)
    assert (s.t_bin, s.t_low, s.t_high, s.n) == (3, 0.3, 0.4, 3)


def test_grad_var_stats_matches_covariance_trace():
    """grad_var_trace = trace(torch.cov) (unbiased), on random float32 gradients."""
    g = torch.randn(30, 7, generator=torch.Generator().manual_seed(4))
    s = _stats(torch.zeros(30), g)
    g64 = g.double()
    assert s.grad_var_trace == pytest.approx(float(torch.trace(torch.cov(g64.T))), rel=1e-12)
    assert s.grad_mean_sqnorm == pytest.approx(float((g64.mean(0) ** 2).sum()), rel=1e-12)
    assert (s.t_bin, s.t_low, s.t_high) == (None, 0.0, 1.0)


def test_grad_var_stats_identical_gradients():
    """All gradients equal: zero variance and ratio 0; all zero: ratio inf."""
    g = torch.tensor([[1.0, -2.0]] * 4, dtype=torch.float64)
    s = _stats(torch.zeros(4), g)
    assert s.grad_var_trace == 0.0 and s.grad_mean_sqnorm == pytest.approx(5.0) and s.grad_var_ratio == 0.0
    s = _stats(torch.zeros(4), torch.zeros(4, 3))
    assert s.grad_var_trace == 0.0 and s.grad_mean_sqnorm == 0.0 and s.grad_var_ratio == math.inf


@pytest.mark.parametrize("b", [0, 1])
def test_grad_var_stats_needs_two_samples(b):
    """B < 2 has no unbiased variance and raises."""
    with pytest.raises(ValueError):
        _stats(torch.zeros(b), torch.zeros(b, 3))


def test_grad_variance_single_sample_raises():
    """A probe batch of one sample has no variance: grad_variance raises."""
    with pytest.raises(ValueError):
        grad_variance(_mlp(), _batch(b=1), 2)


@pytest.mark.parametrize("t_bins", [1, 3, 5])
def test_grad_variance_bins_equal_masked_recomputation(t_bins):
    """Entry 0 covers the whole batch (t_bin None); each bin's stats equal those recomputed on its subset."""
    model = _mlp()
    batch = _batch(b=40, seed=5)
    stats = grad_variance(model, batch, t_bins)
    losses, grads = _naive(model, batch)
    whole = stats[0]
    assert (whole.t_bin, whole.t_low, whole.t_high, whole.n) == (None, 0.0, 1.0, 40)
    ref = _stats(losses, grads)
    assert whole.grad_var_trace == pytest.approx(ref.grad_var_trace, rel=1e-9)
    assert whole.grad_mean_sqnorm == pytest.approx(ref.grad_mean_sqnorm, rel=1e-9)
    assert whole.loss == pytest.approx(ref.loss, rel=1e-9)
    by_bin = {s.t_bin: s for s in stats[1:]}
    for b in range(t_bins):
        lo, hi = b / t_bins, (b + 1) / t_bins
        mask = (batch.t >= lo) & (batch.t < hi)
        if int(mask.sum()) < 2:
            assert b not in by_bin
            continue
        s = by_bin[b]
        assert (s.t_low, s.t_high, s.n) == (pytest.approx(lo), pytest.approx(hi), int(mask.sum()))
        ref = _stats(losses, grads, mask)
        assert s.grad_var_trace == pytest.approx(ref.grad_var_trace, rel=1e-9)
        assert s.grad_mean_sqnorm == pytest.approx(ref.grad_mean_sqnorm, rel=1e-9)
        assert s.grad_var_ratio == pytest.approx(ref.grad_var_ratio, rel=1e-9)
        assert s.loss == pytest.approx(ref.loss, rel=1e-9)
    assert sum(s.n for s in stats[1:]) <= 40


def test_grad_variance_skips_sparse_bins_and_puts_t1_in_last_bin():
    """Bins with < 2 samples are skipped; t = 1 falls in the last bin [1 - 1/K, 1]."""
    model = _mlp()
    base = _batch(b=5, seed=6)
    t = torch.tensor([0.05, 0.1, 0.5, 0.95, 1.0], dtype=torch.float64)
    batch = InterpolantSample(t=t, x_t=base.x_t, dx_t=base.dx_t)
    stats = grad_variance(model, batch, 4)
    assert [s.t_bin for s in stats] == [None, 0, 3]
    assert [s.n for s in stats] == [5, 2, 2]


def test_zero_residual_linear_model_has_zero_variance():
    """A model that fits the targets exactly (translation coupling, sigma = 0, v = shift) has zero gradients."""
    g = torch.Generator().manual_seed(7)
    # Dyadic sources, so that x_1 - x_0 = shift holds exactly in floating point.
    x_0 = torch.randint(-40, 40, (16, 2), generator=g).double() / 8
    shift = torch.tensor([5.0, -1.0], dtype=torch.float64)
    t = torch.rand(16, generator=g, dtype=torch.float64)
    batch = Interpolant(0.0).sample(x_0, x_0 + shift, t)
    model = _Linear(torch.zeros(2, 2, dtype=torch.float64), shift)
    s = grad_variance(model, batch, 2)
    assert all(x.grad_var_trace == 0.0 and x.grad_mean_sqnorm == 0.0 and x.loss == 0.0 for x in s)


class _ConsistentField(nn.Module):
    """The closed-form consistent field of T(x) = mu + A x, with mu and A as parameters."""

    def __init__(self, coupling):
        super().__init__()
        self.mu = nn.Parameter(coupling.shift.clone())
        self.a = nn.Parameter(coupling.matrix.clone())

    def forward(self, x, t):
        return AffineCoupling(shift=self.mu, matrix=self.a).consistent_field(x, t)


def _rotation_probe(angle, sigma, noise="constant", seed=0):
    c = AffineCoupling.rotation(2, angle, 5.0)
    g = torch.Generator().manual_seed(seed)
    x_0 = torch.randn(64, 2, generator=g, dtype=torch.float64)
    t = (torch.arange(64, dtype=torch.float64) + torch.rand(64, generator=g, dtype=torch.float64)) / 64
    z = torch.randn(64, 2, generator=g, dtype=torch.float64)
    return _ConsistentField(c), Interpolant(sigma, noise).sample(x_0, c.transport(x_0), t, z)


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 120.0])
def test_c1_consistent_field_zero_variance_at_sigma_zero(angle):
    """Claim C1: at sigma = 0 the consistent field of OT or a rotated coupling has zero loss and variance."""
    model, batch = _rotation_probe(angle, 0.0)
    s = grad_variance(model, batch, 4)
    assert len(s) == 5
    assert all(x.loss < 1e-25 and x.grad_var_trace < 1e-20 for x in s)


@pytest.mark.parametrize("angle,noise", [(90.0, "constant"), (120.0, "constant"), (180.0, "constant"),
                                         (0.0, "brownian"), (120.0, "brownian")])
def test_c1_noise_makes_variance_positive(angle, noise):
    """Claim C1: with sigma > 0 the consistent field has positive loss and gradient variance."""
    model, batch = _rotation_probe(angle, 0.05, noise)
    s = grad_variance(model, batch, 4)[0]
    assert s.loss > 1e-4 and s.grad_var_trace > 1e-4


def test_translation_field_exact_under_constant_noise():
    """Angle 0 (OT translation) with constant gamma: dx_t = shift is constant, so the field v = shift still has
    zero loss and zero gradient variance at sigma > 0 (constant noise just shifts x_t along a flat field)."""
    model, batch = _rotation_probe(0.0, 0.05, "constant")
    s = grad_variance(model, batch, 4)
    assert all(x.loss < 1e-25 and x.grad_var_trace < 1e-20 for x in s)


@pytest.mark.parametrize("time", [(0, "input"), (4, "input"), (4, "scale"), (0, "scale")])
@pytest.mark.parametrize("sigma", [0.0, 0.05])
@pytest.mark.parametrize("d,width,depth", [(2, 8, 1), (2, 16, 3), (5, 8, 2)])
def test_linear_shortcut_equals_naive_loop(sigma, d, width, depth, time):
    """The one-pass linear-layer kernel gives the naive loop's statistics, whole batch and per bin (rel. 1e-9),
    with every time embedding of the MLP (Fourier features; the time scale's own nn.Linear, applied once)."""
    torch.manual_seed(3)
    model = MLP(d, width=width, depth=depth, time_features=time[0], time_conditioning=time[1]).double()
    g = torch.Generator().manual_seed(8)
    x_0 = torch.randn(50, d, generator=g, dtype=torch.float64)
    t = torch.rand(50, generator=g, dtype=torch.float64)
    z = torch.randn(50, d, generator=g, dtype=torch.float64)
    batch = Interpolant(sigma).sample(x_0, 3 - x_0, t, z)
    fast = grad_variance(model, batch, 4, method="linear")
    losses, grads = _naive(model, batch)
    bins = torch.clamp((t * 4).long(), max=3)
    for s in fast:
        mask = None if s.t_bin is None else bins == s.t_bin
        ref = _stats(losses, grads, mask)
        assert s.grad_var_trace == pytest.approx(ref.grad_var_trace, rel=1e-9)
        assert s.grad_mean_sqnorm == pytest.approx(ref.grad_mean_sqnorm, rel=1e-9)
        assert s.loss == pytest.approx(ref.loss, rel=1e-9)
    sq = sample_grads(model, batch, "linear").sqnorms
    torch.testing.assert_close(sq, (grads ** 2).sum(1), rtol=1e-9, atol=0)


def test_linear_shortcut_refuses_other_parameters():
    """A model with parameters outside nn.Linear: 'linear' raises, 'auto' falls back to vmap and agrees."""
    model = _Linear(torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    batch = _batch(b=10)
    with pytest.raises(ValueError, match="nn.Linear"):
        grad_variance(model, batch, 2, method="linear")
    auto = grad_variance(model, batch, 2, method="auto")[0]
    ref = _stats(*_naive(model, batch))
    assert auto.grad_var_trace == pytest.approx(ref.grad_var_trace, rel=1e-9)


@pytest.mark.parametrize("t_bins", [1, 10])
def test_linear_shortcut_float32_within_1e4(t_bins):
    """In float32 (the training dtype) the linear kernel stays within 1e-4 relative of a float64 naive loop."""
    torch.manual_seed(11)
    model = MLP(2, width=64, depth=3)
    g = torch.Generator().manual_seed(12)
    x_0 = torch.randn(128, 2, generator=g)
    t = (torch.arange(128) + torch.rand(128, generator=g)) / 128
    batch = Interpolant(0.05).sample(x_0, 5 - x_0, t, torch.randn(128, 2, generator=g))
    fast = grad_variance(model, batch, t_bins, method="linear")
    batch64 = InterpolantSample(batch.t.double(), batch.x_t.double(), batch.dx_t.double())
    losses, grads = _naive(model.double(), batch64)
    bins = torch.clamp((batch.t * t_bins).long(), max=t_bins - 1)
    for s in fast:
        ref = _stats(losses, grads, None if s.t_bin is None else bins == s.t_bin)
        assert s.grad_var_trace == pytest.approx(ref.grad_var_trace, rel=1e-4)
        assert s.grad_mean_sqnorm == pytest.approx(ref.grad_mean_sqnorm, rel=1e-4)
