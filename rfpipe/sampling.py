"""Fixed-step ODE solvers for dx/dt = v(x, t), integrated from t = 0 (source) to t = 1 (target).

The grid is t_k = k / n for k = 0..n, always with an explicit step count n (no silent one-step default).
Euler evaluates v at the t_k, Heun at t_k and t_{k+1}: with n odd neither ever evaluates at t = 1/2,
where the consistent field of a 180-degree rotation is singular. RK4 also evaluates at the midpoints
(2k + 1) / (2n), one of which is 1/2 for every odd n (and t_k = 1/2 for every even n), so it is fine for
smooth learned fields but not for that closed-form field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from rfpipe.solvers import SOLVERS, solver_hits_half

__all__ = ["SOLVERS", "Trajectory", "integrate", "solver_hits_half"]

Field = Callable[[Tensor, Tensor], Tensor]
Solver = Literal["euler", "heun", "rk4"]


@dataclass
class Trajectory:
    """Result of :func:`integrate`.

    Attributes:
        x_1: endpoints at t = 1, shape (B, *D).
        t: the grid, shape (n + 1,); only with ``return_path``.
        path: states on the grid, shape (n + 1, B, *D); only with ``return_path``.
    """

    x_1: Tensor
    t: Tensor | None = None
    path: Tensor | None = None


def _step(field: Field, x: Tensor, t: float, h: float, solver: str) -> Tensor:
    def v(y: Tensor, s: float) -> Tensor:
        return field(y, torch.full((y.shape[0],), s, dtype=y.dtype, device=y.device))

    if solver == "euler":
        return x + h * v(x, t)
    if solver == "heun":
        k1 = v(x, t)
        k2 = v(x + h * k1, t + h)
        return x + 0.5 * h * (k1 + k2)
    if solver == "rk4":
        k1 = v(x, t)
        k2 = v(x + 0.5 * h * k1, t + 0.5 * h)
        k3 = v(x + 0.5 * h * k2, t + 0.5 * h)
        k4 = v(x + h * k3, t + h)
        return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")


@torch.no_grad()
def integrate(field: Field, x_0: Tensor, steps: int, solver: Solver = "euler", return_path: bool = False,
              chunk: int | None = None) -> Trajectory:
    """Integrate dx/dt = field(x, t) from t = 0 to t = 1 on the uniform grid t_k = k / steps.

    Args:
        field: v(x, t) with x of shape (B, *D) and t of shape (B,).
        x_0: initial states at t = 0, one batch (all samples in one pass).
        steps: number of steps n >= 1.
        solver: ``euler``, ``heun`` or ``rk4``.
        return_path: also return the states at every grid time.
        chunk: integrate at most this many samples at a time (bounds the memory of large nets on many
            samples; the result is the same as one batch up to float rounding of batched kernels).
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if chunk is not None and x_0.shape[0] > chunk:
        parts = [integrate(field, x, steps, solver, return_path) for x in x_0.split(chunk)]
        x_1 = torch.cat([p.x_1 for p in parts])
        if not return_path:
            return Trajectory(x_1=x_1)
        return Trajectory(x_1=x_1, t=parts[0].t, path=torch.cat([p.path for p in parts], dim=1))
    x = x_0
    path = [x] if return_path else None
    for k in range(steps):
        # t_k = k / n exactly (not accumulated), so the grid never drifts onto t = 1/2.
        x = _step(field, x, k / steps, 1.0 / steps, solver)
        if path is not None:
            path.append(x)
    if path is None:
        return Trajectory(x_1=x)
    grid = torch.arange(steps + 1, dtype=torch.float64) / steps
    return Trajectory(x_1=x, t=grid, path=torch.stack(path))
