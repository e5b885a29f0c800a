"""Fixed-step ODE solvers: convergence orders, exact cases, the grid, and the t = 1/2 rule."""

from __future__ import annotations

import math

import pytest
import torch

from rfpipe.sampling import SOLVERS, integrate, solver_hits_half

ORDERS = {"euler": 1, "heun": 2, "rk4": 4}


def _exp_field(a):
    return lambda x, t: a * x


@pytest.mark.parametrize("a", [1.0, -0.7])
@pytest.mark.parametrize("solver", SOLVERS)
def test_convergence_order(solver, a):
    """dx/dt = a x: global error at t = 1 scales as h^p, p = 1, 2, 4 (halving h divides it by ~2^p)."""
    x_0 = torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
    exact = x_0 * math.exp(a)
    errs = [float((integrate(_exp_field(a), x_0, n, solver).x_1 - exact).abs().max()) for n in (8, 16, 32)]
    p = ORDERS[solver]
    for coarse, fine in zip(errs, errs[1:]):
        assert coarse / fine == pytest.approx(2 ** p, rel=0.15)


@pytest.mark.parametrize("n", [1, 3, 10])
def test_euler_exponential_closed_form(n):
    """Euler on dx/dt = a x gives exactly x_0 (1 + a/n)^n."""
    a = 0.9
    x_0 = torch.tensor([[2.0, -1.0]], dtype=torch.float64)
    out = integrate(_exp_field(a), x_0, n, "euler").x_1
    torch.testing.assert_close(out, x_0 * (1 + a / n) ** n, rtol=1e-14, atol=0)


@pytest.mark.parametrize("n", [1, 2, 7])
@pytest.mark.parametrize("solver", SOLVERS)
def test_constant_field_exact(solver, n):
    """A constant field c is integrated exactly by every solver: x(1) = x_0 + c."""
    c = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)
    x_0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = integrate(lambda x, t: c.expand_as(x), x_0, n, solver).x_1
    torch.testing.assert_close(out, x_0 + c, rtol=0, atol=1e-14)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_time_linear_field(n):
    """v = t: Euler gives the left Riemann sum (n - 1) / (2n); Heun and RK4 give the exact 1/2."""
    x_0 = torch.zeros(3, 2, dtype=torch.float64)

    def field(x, t):
        return t[:, None].expand_as(x)

    torch.testing.assert_close(integrate(field, x_0, n, "euler").x_1,
                               torch.full((3, 2), (n - 1) / (2 * n), dtype=torch.float64), rtol=0, atol=1e-15)
    for solver in ("heun", "rk4"):
        torch.testing.assert_close(integrate(field, x_0, n, solver).x_1,
                                   torch.full((3, 2), 0.5, dtype=torch.float64), rtol=0, atol=1e-15)


def test_rk4_quartic_in_time_closed_form():
    """v = 4 t^3 (exact integral 1): one RK4 step is Simpson's rule, 1/6 (0 + 4 * 4/8 + 4) = 1 exactly."""
    x_0 = torch.zeros(1, 1, dtype=torch.float64)
    out = integrate(lambda x, t: 4 * t[:, None] ** 3, x_0, 1, "rk4").x_1
    assert float(out) == pytest.approx(1.0, abs=1e-15)
    out = integrate(lambda x, t: 5 * t[:, None] ** 4, x_0, 1, "rk4").x_1
    # Simpson's rule on t^4 is not exact: 1/6 (0 + 4 * 5/16 + 5) = 25/24.
    assert float(out) == pytest.approx(25 / 24, abs=1e-15)


@pytest.mark.parametrize("shape", [(3, 2), (2, 1, 4, 4)])
@pytest.mark.parametrize("solver", SOLVERS)
def test_return_path_shapes_and_grid(solver, shape):
    """return_path: t is k/n for k = 0..n, path has shape (n + 1, B, *D), starts at x_0 and ends at x_1."""
    n = 7
    x_0 = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    c = 1.5
    traj = integrate(lambda x, t: torch.full_like(x, c), x_0, n, solver, return_path=True)
    assert traj.t.shape == (n + 1,) and traj.path.shape == (n + 1, *shape)
    assert torch.equal(traj.t, torch.tensor([k / n for k in range(n + 1)], dtype=torch.float64))
    assert torch.equal(traj.path[0], x_0)
    assert torch.equal(traj.path[-1], traj.x_1)
    # For a constant field the path is the straight line x_0 + c t_k.
    expected = x_0[None] + c * traj.t.reshape(-1, *([1] * len(shape)))
    torch.testing.assert_close(traj.path, expected, rtol=0, atol=1e-14)


def test_no_path_by_default():
    """Without return_path only the endpoint is returned."""
    traj = integrate(lambda x, t: x, torch.ones(2, 2), 3)
    assert traj.t is None and traj.path is None


def test_field_receives_batch_times():
    """The field is called with t of shape (B,), all equal, in x's dtype."""
    seen = []

    def field(x, t):
        seen.append((t.shape, t.dtype, bool((t == t[0]).all())))
        return torch.zeros_like(x)

    integrate(field, torch.zeros(5, 2, dtype=torch.float32), 3, "rk4")
    assert seen and all(s == (torch.Size([5]), torch.float32, True) for s in seen)


@pytest.mark.parametrize("steps", [0, -1])
def test_steps_below_one_raise(steps):
    """steps < 1 is rejected."""
    with pytest.raises(ValueError):
        integrate(lambda x, t: x, torch.zeros(1, 1), steps)


@pytest.mark.parametrize("solver", ["midpoint", "Euler", ""])
def test_unknown_solver_raises(solver):
    """An unknown solver name is rejected."""
    with pytest.raises(ValueError):
        integrate(lambda x, t: x, torch.zeros(1, 1), 4, solver)


def _evaluated_times(solver, steps, dtype=torch.float64):
    times = []

    def field(x, t):
        times.append(float(t[0]))
        return torch.zeros_like(x)

    integrate(field, torch.zeros(1, 1, dtype=dtype), steps, solver)
    return times


@pytest.mark.parametrize("steps", list(range(1, 14)) + [100, 101, 1000, 1001])
@pytest.mark.parametrize("solver", SOLVERS)
def test_solver_hits_half_matches_evaluated_grid(solver, steps):
    """solver_hits_half(solver, n) is True iff the field is actually called at t = 1/2 exactly."""
    assert solver_hits_half(solver, steps) == (0.5 in _evaluated_times(solver, steps))


@pytest.mark.parametrize("steps", [1, 2, 5, 6, 11])
@pytest.mark.parametrize("solver", SOLVERS)
def test_solver_hits_half_float32(solver, steps):
    """The rule also holds when the field's t is in float32 (the dtype of a float32 state)."""
    assert solver_hits_half(solver, steps) == (0.5 in _evaluated_times(solver, steps, torch.float32))


@pytest.mark.parametrize("steps", [3, 5, 101])
def test_odd_grid_keeps_away_from_half(steps):
    """With odd n, Euler/Heun evaluate no t within 1/(2n) of 1/2 (the nearest grid points are (n +- 1)/(2n))."""
    for solver in ("euler", "heun"):
        times = _evaluated_times(solver, steps)
        assert min(abs(t - 0.5) for t in times) == pytest.approx(1 / (2 * steps), rel=1e-12)


def test_rule_documented_values():
    """The rule itself: euler/heun hit 1/2 iff n is even, rk4 always."""
    assert [solver_hits_half("euler", n) for n in (1, 2, 3, 4)] == [False, True, False, True]
    assert [solver_hits_half("heun", n) for n in (1, 2, 3, 4)] == [False, True, False, True]
    assert all(solver_hits_half("rk4", n) for n in (1, 2, 3, 4, 101))


@pytest.mark.parametrize("solver,stages", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_ten_thousand_sources_in_one_batched_pass(solver, stages):
    """10,000 sources are integrated together: the field is called steps x stages times, each time on all
    10,000 rows (never per sample), and the endpoints equal the closed form x_0 + 5 of a constant field."""
    calls = []

    def field(x, t):
        calls.append(x.shape[0])
        return torch.full_like(x, 5.0)

    x_0 = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = integrate(field, x_0, 11, solver)
    assert calls == [10_000] * (11 * stages)
    assert torch.allclose(out.x_1, x_0 + 5.0, atol=1e-12)
