"""The MLP velocity network (rfpipe.models): its time embedding against the closed form."""

from __future__ import annotations

import math

import pytest
import torch

from rfpipe.gradvar import TrainingStepCapture
from rfpipe.models import MLP


@pytest.mark.parametrize("dim", [2, 5])
def test_no_time_features_is_the_plain_mlp_on_x_and_t(dim: int) -> None:
    torch.manual_seed(0)
    plain = MLP(dim, 16, 2)
    torch.manual_seed(0)
    zero = MLP(dim, 16, 2, time_features=0)
    x, t = torch.randn(7, dim), torch.rand(7)
    assert torch.equal(plain(x, t), zero(x, t)) and plain.net[0].in_features == dim + 1


@pytest.mark.parametrize("k", [1, 4, 16])
@pytest.mark.parametrize("dim", [2, 3])
def test_fourier_features_enter_the_first_layer(k: int, dim: int) -> None:
    """The first layer sees [x, t, sin(pi t), ..., sin(K pi t), cos(pi t), ..., cos(K pi t)]: an MLP whose first
    layer is the identity on its inputs returns them, checked against the closed form."""
    net = MLP(dim, dim + 1 + 2 * k, 1, "relu", time_features=k)
    with torch.no_grad():
        first, last = net.net[0], net.net[-1]
        first.weight.copy_(torch.eye(first.out_features, first.in_features))
        first.bias.zero_()
    seen = []
    handle = first.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    x, t = torch.randn(4, dim), torch.rand(4)
    net(x, t)
    handle.remove()
    angles = t[:, None] * (torch.arange(1, k + 1, dtype=torch.float32) * math.pi)
    want = torch.cat([x, t[:, None], torch.sin(angles), torch.cos(angles)], dim=1)
    assert torch.allclose(seen[0], want, atol=1e-5)
    assert list(net.state_dict()) == list(MLP(dim, dim + 1 + 2 * k, 1).state_dict())  # no new weights saved
    assert last.out_features == dim


def test_time_features_keep_the_training_batch_probe() -> None:
    """The features are computed before the first nn.Linear: per-sample gradients of every layer still come off
    the training step's backward pass (probe_batch train)."""
    assert TrainingStepCapture(MLP(2, 8, 2, time_features=4)).active
