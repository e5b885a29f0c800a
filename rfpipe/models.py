"""Velocity-field networks v_theta(x, t)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from rfpipe.settings import MLPSettings

__all__ = ["ACTIVATIONS", "MLP"]

Activation = Literal["silu", "relu", "tanh", "gelu"]
ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class MLP(nn.Module):
    """v_theta(x, t) = MLP([x, t, phi(t)]): ``depth`` hidden layers of ``width`` units, t as an extra input.

    With ``time_features`` K > 0 the input also holds phi(t) = (sin(k pi t), cos(k pi t))_{k=1..K}, Fourier
    features that let a small network represent a field that changes sharply in t (the rotation's crossing
    at t = 1/2); K = 0 is the plain MLP on [x, t].

    Args:
        dim: data dimension d; input is (B, d) and (B,), output (B, d).
        width: hidden units per layer.
        depth: number of hidden layers (>= 1).
        activation: one of ``ACTIVATIONS``.
        time_features: K, the number of frequencies of phi (0: none).
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, activation: Activation = "silu",
                 time_features: int = 0) -> None:
        super().__init__()
        act = ACTIVATIONS[activation]
        self.time_features = time_features
        if time_features:
            self.register_buffer("frequencies", torch.arange(1, time_features + 1, dtype=torch.float32) * math.pi,
                                 persistent=False)
        layers: list[nn.Module] = [nn.Linear(dim + 1 + 2 * time_features, width), act()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), act()]
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)
        self.dim = dim

    @classmethod
    def from_settings(cls, dim: int, settings: MLPSettings) -> MLP:
        """The MLP of ``settings`` (width, depth, activation) on data of dimension ``dim``."""
        return cls(dim, settings.width, settings.depth, settings.activation,  # type: ignore[arg-type]
                   settings.time_features)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Velocity at (x, t); ``t`` of shape (B,) or a scalar."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        if not self.time_features:
            return self.net(torch.cat([x, t[:, None]], dim=1))
        angles = t[:, None] * self.frequencies.to(x.dtype)
        return self.net(torch.cat([x, t[:, None], torch.sin(angles), torch.cos(angles)], dim=1))
