"""The UNet: image in, velocity of the same shape out, time enters through a sinusoidal embedding."""

from __future__ import annotations

import math

import pytest
import torch

from rfpipe.unet import UNet, time_embedding


@pytest.mark.parametrize("channels,resolution,mults", [(1, 28, (1, 2, 2)), (3, 16, (1, 2)), (1, 8, (1,)),
                                                       (3, 64, (1, 2, 2, 2))])
def test_output_has_the_input_shape(channels, resolution, mults):
    torch.manual_seed(0)
    net = UNet(channels, 8, mults, emb_dim=16)
    x = torch.randn(3, channels, resolution, resolution)
    assert net(x, torch.rand(3)).shape == x.shape


def test_time_embedding_closed_form():
    """[sin(w_k t), cos(w_k t)] with w_0 = 1 and w_last = 1000: unit norm per (sin, cos) pair."""
    t = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    e = time_embedding(t, 8)
    assert e.shape == (3, 8)
    assert torch.allclose(e[:, :4] ** 2 + e[:, 4:] ** 2, torch.ones(3, 4, dtype=torch.float64))
    assert e[1, 0] == pytest.approx(math.sin(0.25)) and e[1, 3] == pytest.approx(math.sin(250.0))
    assert torch.equal(e[0, :4], torch.zeros(4, dtype=torch.float64))


def test_depends_on_time_and_on_every_pixel_region():
    torch.manual_seed(1)
    net = UNet(1, 8, (1, 2, 2), emb_dim=16)
    x = torch.randn(1, 1, 28, 28, requires_grad=True)
    v0, v1 = net(x, torch.tensor([0.1])), net(x, torch.tensor([0.9]))
    assert not torch.allclose(v0, v1)
    v0[0, 0, 0, 0].backward()  # a corner output sees beyond its 3x3 neighbourhood through the coarse levels
    assert x.grad[0, 0, 20:, 20:].abs().sum() > 0


def test_scalar_time_broadcasts():
    torch.manual_seed(2)
    net = UNet(1, 4, (1, 2), emb_dim=8)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(net(x, torch.tensor(0.3)), net(x, torch.full((2,), 0.3)))
