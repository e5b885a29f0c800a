"""Velocity-field networks v_theta(x, t)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from rfpipe.settings import MLPSettings

__all__ = ["ACTIVATIONS", "MLP", "TIME_CONDITIONINGS"]

Activation = Literal["silu", "relu", "tanh", "gelu"]
ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
TimeConditioning = Literal["input", "scale"]
TIME_CONDITIONINGS: tuple[str, ...] = ("input", "scale")


class MLP(nn.Module):
    """v_theta(x, t) = MLP([x, tau(t)]): ``depth`` hidden layers of ``width`` units, tau(t) = (t, phi(t)).

    With ``time_features`` K > 0, tau also holds phi(t) = (sin(k pi t), cos(k pi t))_{k=1..K}, Fourier features
    that let a small network represent a field that changes sharply in t (the rotation's crossing at t = 1/2);
    K = 0 is the plain MLP on [x, t].

    ``time_conditioning`` says where tau enters: ``input``, only beside x in the first layer; ``scale``, also as
    a feature-wise scale of every hidden layer (FiLM's scale without its shift),

        h_l = act((W_l h_{l-1} + b_l) * (1 + A_l tau(t) + c_l)),    l = 1 .. depth,   h_0 = [x, tau(t)],

    so that a hidden unit can carry x times a function of t, the form of a field whose gain changes with t
    (Counter Example 1: v = 5 - 2 (x - 5t) / (1 - 2t)). The A_l, c_l are one nn.Linear (tau -> depth x width).

    Args:
        dim: data dimension d; input is (B, d) and (B,), output (B, d).
        width: hidden units per layer.
        depth: number of hidden layers (>= 1).
        activation: one of ``ACTIVATIONS``.
        time_features: K, the number of frequencies of phi (0: none).
        time_conditioning: one of ``TIME_CONDITIONINGS``.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, activation: Activation = "silu",
                 time_features: int = 0, time_conditioning: TimeConditioning = "input") -> None:
        super().__init__()
        if time_conditioning not in TIME_CONDITIONINGS:
            raise ValueError(f"time_conditioning must be one of {TIME_CONDITIONINGS}, got {time_conditioning!r}")
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
        self.time_scale = nn.Linear(1 + 2 * time_features, depth * width) if time_conditioning == "scale" else None
        self.depth = depth
        self.dim = dim

    @classmethod
    def from_settings(cls, dim: int, settings: MLPSettings) -> MLP:
        """The MLP of ``settings`` (width, depth, activation) on data of dimension ``dim``."""
        return cls(dim, settings.width, settings.depth, settings.activation,  # type: ignore[arg-type]
                   settings.time_features, settings.time_conditioning)  # type: ignore[arg-type]

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Velocity at (x, t); ``t`` of shape (B,) or a scalar."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        tau = t[:, None]
        if self.time_features:
            angles = tau * self.frequencies.to(x.dtype)
            tau = torch.cat([tau, torch.sin(angles), torch.cos(angles)], dim=1)
        h = torch.cat([x, tau], dim=1)
        if self.time_scale is None:
            return self.net(h)
        scales = (1 + self.time_scale(tau)).chunk(self.depth, dim=1)
        for layer in range(self.depth):
            linear, act = self.net[2 * layer], self.net[2 * layer + 1]
            h = act(linear(h) * scales[layer])
        return self.net[-1](h)
