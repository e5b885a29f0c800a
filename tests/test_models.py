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


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("k", [0, 4])
def test_time_scale_with_zero_weights_is_the_input_conditioned_mlp(k: int, depth: int) -> None:
    """With A_l = 0 and c_l = 0 every scale is 1: the scale-conditioned MLP is the input-conditioned one."""
    torch.manual_seed(0)
    plain = MLP(3, 16, depth, time_features=k)
    scaled = MLP(3, 16, depth, time_features=k, time_conditioning="scale")
    scaled.net.load_state_dict(plain.net.state_dict())
    assert scaled.time_scale is not None and scaled.time_scale.weight.shape == (depth * 16, 1 + 2 * k)
    with torch.no_grad():
        scaled.time_scale.weight.zero_()
        scaled.time_scale.bias.zero_()
    x, t = torch.randn(9, 3), torch.rand(9)
    torch.testing.assert_close(scaled(x, t), plain(x, t), rtol=0, atol=0)


@pytest.mark.parametrize("a", [-0.5, 2.0])
@pytest.mark.parametrize("dim", [1, 3])
def test_time_scale_represents_x_times_a_function_of_t_exactly(dim: int, a: float) -> None:
    """v(x, t) = x (1 + a t), bilinear in (x, t), is exact in a one-layer ReLU MLP with the time scale:
    relu(x s) - relu(-x s) = x s for s = 1 + a t > 0 (first layer [I; -I] on x, read-out [I, -I], scale A = a
    on t). Without it a ReLU net is piecewise linear in (x, t) and cannot be exact."""
    net = MLP(dim, 2 * dim, 1, "relu", time_conditioning="scale").double()
    eye = torch.eye(dim, dtype=torch.float64)
    with torch.no_grad():
        first, last, scale = net.net[0], net.net[-1], net.time_scale
        first.weight.copy_(torch.cat([torch.cat([eye, torch.zeros(dim, 1, dtype=torch.float64)], 1),
                                      torch.cat([-eye, torch.zeros(dim, 1, dtype=torch.float64)], 1)]))
        first.bias.zero_()
        last.weight.copy_(torch.cat([eye, -eye], 1))
        last.bias.zero_()
        scale.weight.fill_(a)
        scale.bias.zero_()
    x, t = torch.randn(50, dim, dtype=torch.float64), torch.rand(50, dtype=torch.float64)
    torch.testing.assert_close(net(x, t), x * (1 + a * t)[:, None], rtol=1e-12, atol=1e-12)


def test_time_scale_keeps_the_training_batch_probe_and_refuses_unknown_names() -> None:
    """The time scale is one nn.Linear applied once per sample, so the training-batch probe still applies."""
    assert TrainingStepCapture(MLP(2, 8, 2, time_features=4, time_conditioning="scale")).active
    with pytest.raises(ValueError, match="time_conditioning"):
        MLP(2, 8, 2, time_conditioning="film")  # type: ignore[arg-type]
