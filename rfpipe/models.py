"""Velocity-field networks v_theta(x, t)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from rfpipe.settings import MLPSettings

__all__ = ["ACTIVATIONS", "MLP"]

Activation = Literal["silu", "relu", "tanh", "gelu"]
ACTIVATIONS: dict[str, type[nn.Module]] = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class MLP(nn.Module):
    """v_theta(x, t) = MLP([x, t]): ``depth`` hidden layers of ``width`` units, t as an extra input.

    Args:
        dim: data dimension d; input is (B, d) and (B,), output (B, d).
        width: hidden units per layer.
        depth: number of hidden layers (>= 1).
        activation: one of ``ACTIVATIONS``.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, activation: Activation = "silu") -> None:
        super().__init__()
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = [nn.Linear(dim + 1, width), act()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), act()]
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)
        self.dim = dim

    @classmethod
    def from_settings(cls, dim: int, settings: MLPSettings) -> MLP:
        """The MLP of ``settings`` (width, depth, activation) on data of dimension ``dim``."""
        return cls(dim, settings.width, settings.depth, settings.activation)  # type: ignore[arg-type]

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Velocity at (x, t); ``t`` of shape (B,) or a scalar."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        return self.net(torch.cat([x, t[:, None]], dim=1))
