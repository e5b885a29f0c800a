"""Model factories for the ``rfpipe diagnose`` tests (``--model diagnose_models:FACTORY``, tests/ on the path)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rfpipe.couplings import AffineCoupling
from rfpipe.models import MLP

__all__ = ["AffineField", "ConstantField", "SnapField", "exact_rotation", "mlp", "not_a_module", "raises",
           "translation", "wrong_shape", "NOT_CALLABLE"]

DIM, ANGLE, SHIFT = 2, 180.0, 5.0
WIDTH, DEPTH = 64, 2
NOT_CALLABLE = 3


class AffineField(nn.Module):
    """The closed-form field consistent with x_1 = R x_0 + shift (rfpipe.couplings), with the shift learnable.

    Along every training line x_t it is exactly x_1 - x_0, so an Euler grid off t = 1/2 reproduces each pair.
    """

    def __init__(self, dim: int = DIM, angle: float = ANGLE, shift: float = SHIFT) -> None:
        super().__init__()
        coupling = AffineCoupling.rotation(dim, angle, shift, dtype=torch.float64)
        self.shift = nn.Parameter(coupling.shift.clone())
        self.register_buffer("matrix", coupling.matrix.clone())

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return AffineCoupling(self.shift, self.matrix).consistent_field(x, t)


class ConstantField(nn.Module):
    """v(x, t) = shift: the OT field of a translation, whose endpoints are x_0 + shift."""

    def __init__(self, dim: int = DIM, shift: float = SHIFT) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.full((dim,), shift))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.shift.expand_as(x)


class SnapField(nn.Module):
    """v(x, t) = (c(x) - x) / (1 - t), c(x) the training target nearest x: every path runs straight onto the target
    nearest it, whichever source it started from (a flow that memorised the targets but not the pairing). An
    Euler step from t = 1 - h lands on c exactly."""

    def __init__(self, targets: Tensor) -> None:
        super().__init__()
        self.register_buffer("targets", targets.clone())
        self.scale = nn.Parameter(torch.ones((), dtype=targets.dtype))  # something for the probe to differentiate

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        nearest = self.targets[torch.cdist(x, self.targets).argmin(1)]
        return self.scale * (nearest - x) / (1 - t)[:, None]


class _WrongShape(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(DIM + 1, DIM + 1)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.lin(torch.cat([x, t[:, None]], 1))


def mlp() -> MLP:
    """The network of the test's trained rotation cells (rfpipe.models.MLP, width 64, depth 2)."""
    return MLP(DIM, WIDTH, DEPTH, "silu")


def exact_rotation() -> AffineField:
    return AffineField()


def translation() -> ConstantField:
    return ConstantField()


def wrong_shape() -> nn.Module:
    return _WrongShape()


def not_a_module() -> int:
    return 3


def raises() -> nn.Module:
    raise RuntimeError("factory is broken")
