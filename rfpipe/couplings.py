"""Couplings: how training pairs (x_0, x_1) are formed.

Two kinds of object live here:

- :class:`AffineCoupling`, a deterministic coupling T(x) = shift + A x of a Gaussian source, with the
  field that is consistent with it under the deterministic interpolant (closed form);
- samplers over a finite set of training pairs: ``paired`` draws pairs (x_0^i, x_1^i) of the fixed
  training pairing, ``independent`` draws x_0^i and x_1^j with independent indices, a fresh random
  pairing of the same marginals at every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["AffineCoupling", "PairSampler", "rotation_matrix"]


def rotation_matrix(dim: int, angle: float, dtype: torch.dtype = torch.float64) -> Tensor:
    """Orthogonal R_theta of size (dim, dim): a rotation by ``angle`` degrees in the (e_1, e_2) plane.

    For dim = 1 only angle 0 (R = 1) and 180 (R = -1) are orthogonal maps of that form.
    """
    theta = math.radians(angle)
    c, s = math.cos(theta), math.sin(theta)
    if dim == 1:
        if not math.isclose(abs(c), 1.0, abs_tol=1e-12):
            raise ValueError(f"in dim 1 the angle must be 0 or 180 degrees, got {angle}")
        return torch.tensor([[round(c)]], dtype=dtype)
    rot = torch.eye(dim, dtype=dtype)
    # Exact values at multiples of 90 degrees, so that R_180 = -I holds bit for bit in the plane.
    rest = angle % 90
    if math.isclose(rest, 0.0, abs_tol=1e-12) or math.isclose(rest, 90.0, abs_tol=1e-12):
        c, s = round(c), round(s)
    rot[0, 0], rot[0, 1], rot[1, 0], rot[1, 1] = c, -s, s, c
    return rot


@dataclass
class AffineCoupling:
    """The deterministic coupling x_1 = T(x_0) = shift + A x_0.

    Attributes:
        shift: vector mu, shape (d,).
        matrix: A, shape (d, d).
    """

    shift: Tensor
    matrix: Tensor

    @classmethod
    def rotation(cls, dim: int, angle: float, shift: float, dtype: torch.dtype = torch.float64) -> AffineCoupling:
        """T(x) = R_angle x + shift * 1 (Counter Example 1 is dim 2, angle 180, shift 5)."""
        return cls(shift=torch.full((dim,), float(shift), dtype=dtype), matrix=rotation_matrix(dim, angle, dtype))

    def transport(self, x_0: Tensor) -> Tensor:
        """T(x_0) = shift + A x_0 for a batch x_0 of shape (B, d)."""
        return self.shift.to(x_0) + x_0 @ self.matrix.to(x_0).T

    def consistent_field(self, x: Tensor, t: Tensor) -> Tensor:
        """v(x, t) = mu + (A - I) [I + t (A - I)]^{-1} (x - t mu), exact along every line x_t of T.

        Undefined where I + t (A - I) is singular (t = 1/2 for A = -I).

        Args:
            x: points, shape (B, d).
            t: times, shape (B,).
        """
        d = self.shift.shape[0]
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        theta = self.matrix.to(x) - eye
        mu = self.shift.to(x)
        lhs = eye + t[:, None, None] * theta  # (B, d, d)
        y = torch.linalg.solve(lhs, (x - t[:, None] * mu)[..., None])[..., 0]
        return mu + y @ theta.T


class PairSampler:
    """Draws training batches from a fixed set of pairs (x_0^i, x_1^i), i < N.

    ``coupling="paired"`` keeps the pairing; ``coupling="independent"`` draws source and target indices
    independently at every call (the product of the two empirical marginals).
    """

    def __init__(self, x_0: Tensor, x_1: Tensor, coupling: str) -> None:
        if x_0.shape != x_1.shape:
            raise ValueError(f"x_0 and x_1 must have the same shape, got {tuple(x_0.shape)} and {tuple(x_1.shape)}")
        if coupling not in ("paired", "independent"):
            raise ValueError(f"coupling must be 'paired' or 'independent', got {coupling!r}")
        self.x_0, self.x_1, self.coupling = x_0, x_1, coupling

    def __len__(self) -> int:
        return self.x_0.shape[0]

    @property
    def nbytes(self) -> int:
        """The memory the pairs take."""
        return sum(x.element_size() * x.nelement() for x in (self.x_0, self.x_1))

    def to(self, device: torch.device | str) -> PairSampler:
        """The same sampler with its pairs on ``device`` (batches are gathered there: only the indices, drawn
        on the CPU generator, cross over)."""
        return PairSampler(self.x_0.to(device), self.x_1.to(device), self.coupling)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A batch (x_0, x_1) of ``batch_size`` pairs, drawn with replacement (on the pairs' device; the indices
        from ``generator``, on the CPU)."""
        n = len(self)
        i = torch.randint(n, (batch_size,), generator=generator)
        j = i if self.coupling == "paired" else torch.randint(n, (batch_size,), generator=generator)
        return self.x_0[i], self.x_1[j]
