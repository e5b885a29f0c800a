"""Names of the fixed-step ODE solvers and where their grids fall (torch-free, for config checks)."""

from __future__ import annotations

__all__ = ["SOLVERS", "solver_hits_half"]

SOLVERS: tuple[str, ...] = ("euler", "heun", "rk4")


def solver_hits_half(solver: str, steps: int) -> bool:
    """Whether ``solver`` with ``steps`` uniform steps on [0, 1] evaluates the field at t = 1/2.

    Euler evaluates at t_k = k / n and Heun at t_k and t_{k+1}: t = 1/2 iff n is even. RK4 also evaluates at
    the midpoints (2k + 1) / (2n), one of which is 1/2 for every odd n: it always does.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    return solver == "rk4" or steps % 2 == 0
