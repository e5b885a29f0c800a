"""Interpolants between a source x_0 (t = 0) and a target x_1 (t = 1).

    x_t = (1 - t) x_0 + t x_1 + gamma(t) z,        z ~ N(0, I),
    dx_t = x_1 - x_0 + gamma'(t) z                 (the regression target).

``sigma`` is the noise scale of the interpolant and nothing else. ``sigma = 0`` is the deterministic
interpolant of Rectified Flow. Two noise shapes:

- ``constant``: gamma(t) = sigma, gamma'(t) = 0 (I-CFM);
- ``brownian``: gamma(t) = sigma sqrt(t (1 - t)), gamma'(t) = sigma (1 - 2t) / (2 sqrt(t (1 - t))),
  a Brownian bridge, whose derivative is singular at t = 0 and t = 1 (t is clamped to
  [T_EPS, 1 - T_EPS] there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = ["NOISE_SHAPES", "T_EPS", "Interpolant", "InterpolantSample"]

NoiseShape = Literal["constant", "brownian"]
NOISE_SHAPES: tuple[str, ...] = ("constant", "brownian")
T_EPS = 1e-5


@dataclass
class InterpolantSample:
    """A point on the interpolant and its regression target.

    Attributes:
        t: times, shape (B,).
        x_t: points x_t, shape (B, *D).
        dx_t: conditional velocity x_1 - x_0 + gamma'(t) z, shape (B, *D).
    """

    t: Tensor
    x_t: Tensor
    dx_t: Tensor


def _expand(t: Tensor, like: Tensor) -> Tensor:
    """Reshape per-sample times (B,) to broadcast against ``like`` (B, *D)."""
    return t.reshape(-1, *([1] * (like.dim() - 1)))


@dataclass(frozen=True)
class Interpolant:
    """x_t = (1 - t) x_0 + t x_1 + gamma(t) z with gamma of the given ``noise`` shape and scale ``sigma``."""

    sigma: float = 0.0
    noise: NoiseShape = "constant"

    def __post_init__(self) -> None:
        if not self.sigma >= 0:
            raise ValueError(f"sigma must be >= 0, got {self.sigma}")
        if self.noise not in NOISE_SHAPES:
            raise ValueError(f"noise must be one of {NOISE_SHAPES}, got {self.noise!r}")

    def gamma(self, t: Tensor) -> Tensor:
        """gamma(t): sigma (constant) or sigma sqrt(t (1 - t)) (brownian)."""
        if self.noise == "constant":
            return torch.full_like(t, self.sigma)
        return self.sigma * torch.sqrt(t * (1 - t))

    def d_gamma(self, t: Tensor) -> Tensor:
        """gamma'(t): 0 (constant) or sigma (1 - 2t) / (2 sqrt(t (1 - t))) (brownian, t clamped)."""
        if self.noise == "constant" or self.sigma == 0:
            return torch.zeros_like(t)
        t = t.clamp(T_EPS, 1 - T_EPS)
        return self.sigma * (1 - 2 * t) / (2 * torch.sqrt(t * (1 - t)))

    def sample(self, x_0: Tensor, x_1: Tensor, t: Tensor, z: Tensor | None = None) -> InterpolantSample:
        """Return x_t and its target dx_t for pairs (x_0, x_1) at times t.

        Args:
            x_0: sources, shape (B, *D).
            x_1: targets, shape (B, *D).
            t: times in [0, 1], shape (B,).
            z: standard normal noise of shape (B, *D); drawn with the global generator if omitted
                and sigma > 0.
        """
        t_ = _expand(t, x_0)
        x_t = (1 - t_) * x_0 + t_ * x_1
        dx_t = x_1 - x_0
        if self.sigma > 0:
            if z is None:
                z = torch.randn_like(x_0)
            if self.noise == "constant" and z.dtype in (torch.float32, torch.float64) and t.dtype == z.dtype:
                # gamma = sigma, gamma' = 0: the same numbers in two kernels instead of seven (a Python float
                # times a float32/float64 tensor is computed with the float rounded to that dtype, as full_like
                # does; adding 0 * z to dx_t changes no value)
                return InterpolantSample(t=t, x_t=x_t + self.sigma * z, dx_t=dx_t)
            x_t = x_t + _expand(self.gamma(t), x_0) * z
            dx_t = dx_t + _expand(self.d_gamma(t), x_0) * z
        return InterpolantSample(t=t, x_t=x_t, dx_t=dx_t)
