"""Interpolant x_t = (1 - t) x_0 + t x_1 + gamma(t) z and its target dx_t = x_1 - x_0 + gamma'(t) z."""

from __future__ import annotations

import math

import pytest
import torch

from rfpipe.interpolants import T_EPS, Interpolant

SIGMAS = [0.0, 0.01, 0.05, 0.1]
NOISES = ["constant", "brownian"]
SHAPES = [(7, 2), (7, 3), (7, 1, 4, 4)]


def _draw(shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x_0 = torch.randn(shape, generator=g, dtype=dtype)
    x_1 = torch.randn(shape, generator=g, dtype=dtype) + 3.0
    z = torch.randn(shape, generator=g, dtype=dtype)
    t = torch.rand(shape[0], generator=g, dtype=dtype).clamp(0.01, 0.99)
    return x_0, x_1, z, t


def _gamma_ref(sigma: float, noise: str, t: float) -> float:
    """Hand-written gamma(t)."""
    return sigma if noise == "constant" else sigma * math.sqrt(t * (1 - t))


def _dgamma_ref(sigma: float, noise: str, t: float) -> float:
    """Hand-written gamma'(t)."""
    if noise == "constant" or sigma == 0:
        return 0.0
    return sigma * (1 - 2 * t) / (2 * math.sqrt(t * (1 - t)))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_sample_matches_closed_form(sigma, noise, shape):
    """x_t and dx_t equal the hand-written formulas, sample by sample, for every sigma, noise and shape."""
    x_0, x_1, z, t = _draw(shape)
    out = Interpolant(sigma, noise).sample(x_0, x_1, t, z)
    assert out.x_t.shape == shape and out.dx_t.shape == shape
    assert torch.equal(out.t, t)
    for i in range(shape[0]):
        ti = float(t[i])
        g, dg = _gamma_ref(sigma, noise, ti), _dgamma_ref(sigma, noise, ti)
        exp_xt = (1 - ti) * x_0[i] + ti * x_1[i] + g * z[i]
        exp_dx = x_1[i] - x_0[i] + dg * z[i]
        torch.testing.assert_close(out.x_t[i], exp_xt, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out.dx_t[i], exp_dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.1])
def test_gamma_and_derivative_closed_form(sigma, noise):
    """Interpolant.gamma and d_gamma equal sigma / sigma sqrt(t(1-t)) and 0 / sigma(1-2t)/(2 sqrt(t(1-t)))."""
    ip = Interpolant(sigma, noise)
    t = torch.tensor([0.1, 0.25, 0.5, 0.7, 0.9], dtype=torch.float64)
    exp_g = torch.tensor([_gamma_ref(sigma, noise, float(s)) for s in t], dtype=torch.float64)
    exp_dg = torch.tensor([_dgamma_ref(sigma, noise, float(s)) for s in t], dtype=torch.float64)
    torch.testing.assert_close(ip.gamma(t), exp_g, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(ip.d_gamma(t), exp_dg, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.1])
def test_brownian_derivative_sign_and_symmetry(sigma):
    """Brownian gamma' is positive before 1/2, zero at 1/2, negative after, and odd about 1/2."""
    ip = Interpolant(sigma, "brownian")
    t = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9], dtype=torch.float64)
    dg = ip.d_gamma(t)
    assert (dg[:2] > 0).all() and dg[2] == 0 and (dg[3:] < 0).all()
    torch.testing.assert_close(dg, -dg.flip(0), rtol=1e-12, atol=1e-15)


def test_brownian_derivative_clamped_at_endpoints():
    """At t = 0 and 1 the singular brownian gamma' is finite: evaluated at T_EPS and 1 - T_EPS."""
    sigma = 0.05
    dg = Interpolant(sigma, "brownian").d_gamma(torch.tensor([0.0, 1.0], dtype=torch.float64))
    expected = _dgamma_ref(sigma, "brownian", T_EPS)
    assert torch.isfinite(dg).all()
    torch.testing.assert_close(dg, torch.tensor([expected, -expected], dtype=torch.float64), rtol=1e-10, atol=0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_endpoints_brownian(sigma, shape):
    """Brownian bridge: x_t(0) = x_0 and x_t(1) = x_1 exactly, whatever z."""
    x_0, x_1, z, _ = _draw(shape)
    ip = Interpolant(sigma, "brownian")
    b = shape[0]
    at0 = ip.sample(x_0, x_1, torch.zeros(b, dtype=torch.float64), z)
    at1 = ip.sample(x_0, x_1, torch.ones(b, dtype=torch.float64), z)
    assert torch.equal(at0.x_t, x_0)
    assert torch.equal(at1.x_t, x_1)


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("shape", SHAPES)
def test_endpoints_deterministic(noise, shape):
    """sigma = 0: x_t(0) = x_0, x_t(1) = x_1, and dx_t = x_1 - x_0 at every t, z ignored."""
    x_0, x_1, z, t = _draw(shape)
    ip = Interpolant(0.0, noise)
    b = shape[0]
    assert torch.equal(ip.sample(x_0, x_1, torch.zeros(b, dtype=torch.float64), z).x_t, x_0)
    assert torch.equal(ip.sample(x_0, x_1, torch.ones(b, dtype=torch.float64), z).x_t, x_1)
    assert torch.equal(ip.sample(x_0, x_1, t, z).dx_t, x_1 - x_0)


@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.1])
def test_constant_noise_endpoints_are_offset(sigma):
    """Constant gamma does not pin the endpoints: x_t(0) = x_0 + sigma z, x_t(1) = x_1 + sigma z."""
    x_0, x_1, z, _ = _draw((5, 3))
    ip = Interpolant(sigma, "constant")
    torch.testing.assert_close(ip.sample(x_0, x_1, torch.zeros(5, dtype=torch.float64), z).x_t, x_0 + sigma * z)
    torch.testing.assert_close(ip.sample(x_0, x_1, torch.ones(5, dtype=torch.float64), z).x_t, x_1 + sigma * z)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_target_is_time_derivative(sigma, noise, shape):
    """dx_t is d/dt x_t at fixed (x_0, x_1, z): central finite difference in float64 at interior t."""
    x_0, x_1, z, _ = _draw(shape, seed=1)
    ip = Interpolant(sigma, noise)
    b = shape[0]
    h = 1e-6
    t = torch.linspace(0.1, 0.9, b, dtype=torch.float64)
    fd = (ip.sample(x_0, x_1, t + h, z).x_t - ip.sample(x_0, x_1, t - h, z).x_t) / (2 * h)
    torch.testing.assert_close(ip.sample(x_0, x_1, t, z).dx_t, fd, rtol=1e-7, atol=1e-7)


def test_noise_drawn_when_omitted():
    """sigma > 0 without z: x_t - mean path and dx_t - (x_1 - x_0) are gamma z and gamma' z for one z."""
    x_0, x_1, _, _ = _draw((4000, 2))
    t = torch.full((4000,), 0.2, dtype=torch.float64)
    sigma = 0.1
    out = Interpolant(sigma, "brownian").sample(x_0, x_1, t, None)
    z_from_x = (out.x_t - (0.8 * x_0 + 0.2 * x_1)) / (sigma * math.sqrt(0.2 * 0.8))
    z_from_dx = (out.dx_t - (x_1 - x_0)) / _dgamma_ref(sigma, "brownian", 0.2)
    torch.testing.assert_close(z_from_x, z_from_dx, rtol=1e-8, atol=1e-8)
    # The recovered z is standard normal (8000 draws: mean within ~5 standard errors, variance near 1).
    assert abs(float(z_from_x.mean())) < 5 / math.sqrt(8000)
    assert abs(float(z_from_x.var()) - 1) < 0.1


@pytest.mark.parametrize("sigma", [-0.05, -1e-12, float("nan")])
def test_invalid_sigma_raises(sigma):
    """A negative (or NaN) sigma is rejected at construction."""
    with pytest.raises(ValueError):
        Interpolant(sigma, "constant")


@pytest.mark.parametrize("noise", ["gaussian", "Brownian", ""])
def test_unknown_noise_raises(noise):
    """An unknown noise shape is rejected at construction."""
    with pytest.raises(ValueError):
        Interpolant(0.05, noise)
