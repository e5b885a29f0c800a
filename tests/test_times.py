"""Training times (rfpipe.times): the truncated normal half, its density, and the unbiased uniform-time loss."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from rfpipe.couplings import PairSampler
from rfpipe.interpolants import Interpolant
from rfpipe.models import MLP
from rfpipe.times import centred_times, uniform_weights
from rfpipe.training import TrainConfig, draw_batch, train

SCALES = [0.02, 0.08, 0.3, 1.0]


@pytest.mark.parametrize("batch", [7, 256])
def test_scale_zero_is_uniform(batch):
    u = torch.rand(batch, generator=torch.Generator().manual_seed(0))
    assert centred_times(u, 0.0) is u
    assert torch.equal(uniform_weights(u, 0.0), torch.ones(batch))


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("batch", [7, 256])
def test_first_part_uniform_last_half_truncated_normal(scale, batch):
    """The first B - floor(B/2) times are the uniforms themselves; the last floor(B/2) lie in [0, 1] and are the
    truncated normal's quantiles of their uniforms: u = 1/2 gives t = 1/2, and order is kept (a monotone map)."""
    u = torch.rand(batch, generator=torch.Generator().manual_seed(1))
    t = centred_times(u, scale)
    keep = batch - batch // 2
    assert torch.equal(t[:keep], u[:keep])
    assert ((t >= 0) & (t <= 1)).all()
    order = torch.argsort(u[keep:])
    assert (t[keep:][order].diff() >= 0).all()
    assert centred_times(torch.tensor([0.3, 0.5]), scale)[1].item() == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("scale", [0.02, 0.08])
def test_quantiles_follow_the_normal(scale):
    """For s small against 1/2 the truncation is negligible, so the quartiles are 1/2 -+ 0.6745 s."""
    t = centred_times(torch.tensor([0.0, 0.0, 0.25, 0.75]), scale)  # first half kept, last two centred
    assert t[2:].tolist() == pytest.approx([0.5 - 0.67449 * scale, 0.5 + 0.67449 * scale], abs=1e-5)


@pytest.mark.parametrize("scale", SCALES)
def test_weights_are_the_inverse_mixture_density(scale):
    """1 / w integrates to 1 over [0, 1] (the mixture is a density) and w <= B / (B - floor(B/2)) (p >= the
    uniform share); at t = 1/2, 1 / w = 1/2 + q_s(1/2) / 2 with q_s(1/2) = 1 / (s sqrt(2 pi) (1 - 2 Phi(-1/2s)))."""
    grid = torch.linspace(0, 1, 200_000, dtype=torch.float64)
    density = 1.0 / uniform_weights(grid, scale)  # an even length: the centred share is exactly 1/2
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-6)
    assert density.min().item() >= 0.5 - 1e-12
    tail = 0.5 * math.erfc(1 / (2 * scale * math.sqrt(2)))
    peak = 0.5 + 0.5 / (scale * math.sqrt(2 * math.pi) * (1 - 2 * tail))
    assert 1.0 / uniform_weights(torch.tensor([0.2, 0.5], dtype=torch.float64), scale)[1].item() == pytest.approx(peak)


@pytest.mark.parametrize("scale", SCALES)
def test_weighted_mean_estimates_the_uniform_time_mean(scale):
    """E[(1/B) sum_i f(t_i) / p(t_i)] = int_0^1 f: for f(t) = cos 3t + t^2 the integral is sin(3)/3 + 1/3."""
    u = torch.rand(2_000_000, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t = centred_times(u, scale)
    values = (torch.cos(3 * t) + t ** 2) * uniform_weights(t, scale)
    se = values.std().item() / math.sqrt(len(values))
    assert values.mean().item() == pytest.approx(math.sin(3) / 3 + 1 / 3, abs=5 * se)
    assert abs(t[len(t) // 2:].mean().item() - 0.5) < 1e-3  # the centred half is symmetric about 1/2


def _sampler():
    x_0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    return PairSampler(x_0, -x_0 + 5.0, "paired")


@pytest.mark.parametrize("sigma", [0.0, 0.05])
def test_draw_batch_consumes_the_same_random_numbers(sigma):
    """Centred times change only the last half of t: the same pairs and noise, and the generator ends in the
    same state as with uniform times (so a run's other random draws are unchanged)."""
    g_u, g_c = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = draw_batch(_sampler(), Interpolant(sigma), 10, g_u)
    b = draw_batch(_sampler(), Interpolant(sigma), 10, g_c, t_centre_scale=0.08)
    assert torch.equal(a.t[:5], b.t[:5]) and not torch.equal(a.t[5:], b.t[5:])
    torch.testing.assert_close(b.dx_t - a.dx_t, torch.zeros_like(a.dx_t))  # x_1 - x_0 (+ 0 for constant noise)
    assert torch.equal(g_u.get_state(), g_c.get_state())


def test_training_records_the_weighted_loss():
    """With centred times the recorded loss of step 0 is the batch mean of the per-sample loss weighted by 1 / p(t)
    at the initial weights; a run with scale 0 records the plain mean, and the two differ."""
    cfg = TrainConfig(steps=3, batch_size=32, lr=1e-2, probe_every=0, t_centre_scale=0.08)
    losses = {}
    for scale in (0.0, 0.08):
        torch.manual_seed(0)
        model = MLP(2, width=8, depth=2)
        batch = draw_batch(_sampler(), Interpolant(0.0), 32, torch.Generator().manual_seed(5), t_centre_scale=scale)
        with torch.no_grad():
            per_sample = ((model(batch.x_t, batch.t) - batch.dx_t) ** 2).sum(1)
        expected = float((per_sample * uniform_weights(batch.t, scale)).mean())
        result = train(model, _sampler(), Interpolant(0.0), dataclasses.replace(cfg, t_centre_scale=scale),
                       seed=5)
        assert result.losses[0] == pytest.approx(expected, rel=1e-6)
        losses[scale] = result.losses
    assert losses[0.0][0] != losses[0.08][0]


def test_scale_out_of_range():
    with pytest.raises(ValueError, match="t_centre_scale"):
        train(MLP(2, width=4, depth=1), _sampler(), Interpolant(0.0),
              TrainConfig(steps=1, batch_size=4, probe_every=0, t_centre_scale=-0.1), seed=0)


class _Crash(Exception):
    pass


def test_resume_with_centred_times_equals_uninterrupted(tmp_path):
    """Centred times add no state: a run stopped after its step-15 checkpoint and resumed records the same
    (weighted) losses and probe rows and ends with the same weights, bit for bit, as an uninterrupted run."""
    config = TrainConfig(steps=60, batch_size=32, probe_every=10, t_bins=2, lr_schedule="cosine",
                         t_centre_scale=0.05)

    def fresh():
        torch.manual_seed(1)
        return MLP(2, 16, 2)

    ref_model = fresh()
    ref = train(ref_model, _sampler(), Interpolant(0.0), config, seed=3)

    def crash(step):
        if step == 30:
            raise _Crash

    ckpt = tmp_path / "state.pt"
    with pytest.raises(_Crash):
        train(fresh(), _sampler(), Interpolant(0.0), config, seed=3, on_probe=crash, checkpoint=ckpt,
              checkpoint_every=15, tag="a")
    model = fresh()
    out = train(model, _sampler(), Interpolant(0.0), config, seed=3, checkpoint=ckpt, checkpoint_every=15, tag="a")
    assert out.losses == ref.losses and out.probes == ref.probes
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref_model.state_dict().values()))
