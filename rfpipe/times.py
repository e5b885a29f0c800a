"""Training times t in [0, 1]: uniform, or half of each batch concentrated about t = 1/2.

With ``t_centre_scale`` s > 0, the last c = floor(B / 2) times of a batch of B are the normal N(1/2, s^2)
truncated to [0, 1], drawn by its inverse CDF from the batch's own uniforms u (so the random stream is the one
of uniform times),

    t = 1/2 + s Phi^{-1}(a + u (1 - 2a)),     a = Phi(-1 / (2s)),
    q_s(t) = phi((t - 1/2) / s) / (s (1 - 2a)),

and the batch's times have the mixture density p(t) = (1 - c/B) + (c/B) q_s(t). The flow-matching loss is
minimised pointwise in t, so every density with full support on [0, 1] has the same minimiser: the density
decides where training spends its samples (near the crossing of Counter Example 1's lines at t = 1/2), not what
it converges to. The loss recorded for the convergence criterion stays the uniform-time loss, estimated without
bias by weighting each sample by 1 / p(t_i) (E[(1/B) sum_i l(t_i) / p(t_i)] = int_0^1 l(t) dt, whichever half
t_i came from).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["centred_times", "uniform_weights"]


def _tail(scale: float) -> float:
    """a = Phi(-1 / (2s)): the mass of N(1/2, s^2) below 0 (and above 1)."""
    return 0.5 * math.erfc(1.0 / (2.0 * scale * math.sqrt(2.0)))


def centred_times(u: Tensor, scale: float) -> Tensor:
    """The batch's times from its uniforms ``u`` (B,): the first B - floor(B/2) are ``u``, the rest N(1/2, s^2)
    truncated to [0, 1] by the inverse CDF of the module docstring; ``scale`` s = 0 returns ``u`` unchanged."""
    if scale <= 0:
        return u
    half = u.shape[0] // 2
    a = _tail(scale)
    tail = u[u.shape[0] - half:].double()
    centred = 0.5 + scale * torch.special.ndtri(a + tail * (1.0 - 2.0 * a))
    return torch.cat([u[:u.shape[0] - half], centred.clamp(0.0, 1.0).to(u.dtype)])


def uniform_weights(t: Tensor, scale: float) -> Tensor:
    """1 / p(t) for the times of one batch of B = len(t) drawn by :func:`centred_times` (ones for s = 0): the
    weights that make the batch mean of a per-sample loss an unbiased estimate of its uniform-time mean."""
    if scale <= 0:
        return torch.ones_like(t)
    share = (t.shape[0] // 2) / t.shape[0]
    z = (t.double() - 0.5) / scale
    q = torch.exp(-0.5 * z * z) / (scale * math.sqrt(2.0 * math.pi) * (1.0 - 2.0 * _tail(scale)))
    return (1.0 / ((1.0 - share) + share * q)).to(t.dtype)
