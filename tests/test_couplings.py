"""Couplings: rotation matrices, the affine coupling's consistent field (claim C4), the pair sampler."""

from __future__ import annotations

import math

import pytest
import torch

from rfpipe.couplings import AffineCoupling, PairSampler, rotation_matrix
from rfpipe.sampling import integrate

ANGLES = [0.0, 30.0, 90.0, 120.0, 150.0]


@pytest.mark.parametrize("dim", [2, 3, 5])
@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 90.0, 120.0, 150.0, 180.0, 270.0, -60.0])
def test_rotation_matrix_orthogonal_det_one(dim, angle):
    """R^T R = I and det R = +1 (a proper rotation) for every dim >= 2 and angle."""
    r = rotation_matrix(dim, angle)
    assert r.shape == (dim, dim) and r.dtype == torch.float64
    torch.testing.assert_close(r.T @ r, torch.eye(dim, dtype=torch.float64), rtol=0, atol=1e-14)
    assert abs(float(torch.linalg.det(r)) - 1.0) < 1e-14


@pytest.mark.parametrize("dim", [2, 3, 5])
@pytest.mark.parametrize("angle", [30.0, 120.0])
def test_rotation_matrix_acts_in_first_plane(dim, angle):
    """R e_1 = (cos, sin, 0...), R e_2 = (-sin, cos, 0...), and R fixes e_3..e_d."""
    r = rotation_matrix(dim, angle)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    expected = torch.eye(dim, dtype=torch.float64)
    expected[0, 0], expected[0, 1], expected[1, 0], expected[1, 1] = c, -s, s, c
    torch.testing.assert_close(r, expected, rtol=0, atol=1e-15)


def test_rotation_180_is_exactly_minus_identity():
    """R_180 in dim 2 is -I bit for bit (no 1e-16 off-diagonal residue)."""
    assert torch.equal(rotation_matrix(2, 180.0), -torch.eye(2, dtype=torch.float64))


def test_rotation_multiples_of_90_exact():
    """R_90 and R_0 are exact integer matrices, and R_90 applied twice is exactly R_180."""
    r90 = rotation_matrix(2, 90.0)
    assert torch.equal(r90, torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64))
    assert torch.equal(rotation_matrix(3, 0.0), torch.eye(3, dtype=torch.float64))
    assert torch.equal(r90 @ r90, rotation_matrix(2, 180.0))


def test_rotation_snaps_just_above_multiple_of_90():
    """An angle within 1e-12 above a multiple of 90 degrees gives the exact matrix (180 + 1e-13 -> -I)."""
    assert torch.equal(rotation_matrix(2, 180.0 + 1e-13), -torch.eye(2, dtype=torch.float64))
    assert torch.equal(rotation_matrix(2, 1e-13), torch.eye(2, dtype=torch.float64))


@pytest.mark.parametrize("angle,expected", [(180.0 - 1e-13, -1.0), (-1e-13, 1.0)])
def test_rotation_snaps_just_below_multiple_of_90(angle, expected):
    """The snapping tolerance is symmetric: an angle within 1e-12 below a multiple of 90 is snapped too."""
    assert torch.equal(rotation_matrix(2, angle), expected * torch.eye(2, dtype=torch.float64))


def test_rotation_dim_one():
    """In dim 1 angle 0 gives [[1]], angle 180 gives [[-1]], any other angle raises."""
    assert torch.equal(rotation_matrix(1, 0.0), torch.tensor([[1.0]], dtype=torch.float64))
    assert torch.equal(rotation_matrix(1, 180.0), torch.tensor([[-1.0]], dtype=torch.float64))
    with pytest.raises(ValueError):
        rotation_matrix(1, 90.0)


def test_transport_is_affine_map():
    """transport(x) = shift + A x row by row (hand-computed for A = R_90, shift 5)."""
    c = AffineCoupling.rotation(2, 90.0, 5.0)
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    expected = torch.tensor([[5.0, 6.0], [3.0, 5.0], [6.0, 8.0]], dtype=torch.float64)
    assert torch.equal(c.transport(x), expected)


def _random_x0(n, d, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("t_val", [0.0, 0.1, 0.3, 0.45, 0.55, 0.7, 0.9, 1.0])
@pytest.mark.parametrize("dim", [2, 3, 5])
@pytest.mark.parametrize("angle", ANGLES)
def test_consistent_field_zero_residual_on_lines(angle, dim, t_val):
    """On every line x_t = (1 - t) x_0 + t T(x_0) the consistent field equals T(x_0) - x_0 (float64, 1e-10)."""
    c = AffineCoupling.rotation(dim, angle, 5.0)
    x_0 = _random_x0(16, dim)
    x_1 = c.transport(x_0)
    t = torch.full((16,), t_val, dtype=torch.float64)
    x_t = (1 - t[:, None]) * x_0 + t[:, None] * x_1
    torch.testing.assert_close(c.consistent_field(x_t, t), x_1 - x_0, rtol=0, atol=1e-10)


@pytest.mark.parametrize("dim", [2, 3])
def test_consistent_field_general_matrix(dim):
    """Zero residual also for a non-orthogonal A (a random A near I, invertible path matrices) and mixed t."""
    g = torch.Generator().manual_seed(3)
    a = torch.eye(dim, dtype=torch.float64) + 0.3 * torch.randn(dim, dim, generator=g, dtype=torch.float64)
    mu = torch.randn(dim, generator=g, dtype=torch.float64)
    c = AffineCoupling(shift=mu, matrix=a)
    x_0 = _random_x0(20, dim, seed=4)
    t = torch.rand(20, generator=g, dtype=torch.float64)
    x_t = (1 - t[:, None]) * x_0 + t[:, None] * c.transport(x_0)
    torch.testing.assert_close(c.consistent_field(x_t, t), mu + x_0 @ (a - torch.eye(dim, dtype=a.dtype)).T,
                               rtol=0, atol=1e-10)


def test_consistent_field_180_closed_form():
    """For A = -I, shift mu: v(x, t) = mu - 2 (x - t mu) / (1 - 2t), checked at points off the lines too."""
    c = AffineCoupling.rotation(2, 180.0, 5.0)
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0], [7.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([0.1, 0.3, 0.8], dtype=torch.float64)
    expected = 5.0 - 2 * (x - 5.0 * t[:, None]) / (1 - 2 * t[:, None])
    torch.testing.assert_close(c.consistent_field(x, t), expected, rtol=1e-13, atol=1e-13)


def test_consistent_field_translation_is_constant():
    """For A = I (angle 0, the OT map x -> x + shift) the field is the constant shift everywhere."""
    c = AffineCoupling.rotation(3, 0.0, 2.5)
    x = _random_x0(8, 3)
    t = torch.linspace(0, 1, 8, dtype=torch.float64)
    assert torch.equal(c.consistent_field(x, t), torch.full((8, 3), 2.5, dtype=torch.float64))


@pytest.mark.parametrize("solver", ["euler", "heun"])
@pytest.mark.parametrize("steps", [1, 5, 11, 101, 1001])
def test_c4_odd_steps_reproduce_training_pairs(steps, solver):
    """Claim C4: the A = -I, shift 5 consistent field, integrated on an odd grid, maps x_0 to 5 - x_0 (1e-9)."""
    c = AffineCoupling.rotation(2, 180.0, 5.0)
    x_0 = 3 * _random_x0(32, 2, seed=7)
    out = integrate(c.consistent_field, x_0, steps, solver).x_1
    torch.testing.assert_close(out, 5.0 - x_0, rtol=0, atol=1e-9)


@pytest.mark.parametrize("solver,steps", [("euler", 4), ("euler", 10), ("heun", 6), ("rk4", 5), ("rk4", 11)])
def test_c4_grid_through_half_is_singular(solver, steps):
    """A grid that evaluates t = 1/2 meets the singular I + t(A - I) = 0 of the A = -I field and fails."""
    c = AffineCoupling.rotation(2, 180.0, 5.0)
    x_0 = _random_x0(4, 2, seed=8)
    with pytest.raises(RuntimeError):  # torch.linalg.LinAlgError is a RuntimeError
        integrate(c.consistent_field, x_0, steps, solver)


@pytest.mark.parametrize("angle", [30.0, 90.0, 120.0])
def test_rotated_field_flows_to_partner_rk4(angle):
    """Away from 180 degrees the field is smooth; RK4 with 50 steps maps x_0 to T(x_0) (exact straight lines)."""
    c = AffineCoupling.rotation(2, angle, 5.0)
    x_0 = _random_x0(16, 2, seed=9)
    out = integrate(c.consistent_field, x_0, 50, "rk4").x_1
    torch.testing.assert_close(out, c.transport(x_0), rtol=0, atol=1e-9)


def _pairs(n=10, d=3):
    x_0 = torch.arange(n * d, dtype=torch.float64).reshape(n, d)
    x_1 = AffineCoupling.rotation(d, 120.0, 5.0).transport(x_0)
    return x_0, x_1


def _row_index(rows, table):
    """Index of each row of ``rows`` in ``table`` (asserts each is present exactly once)."""
    eq = (rows[:, None, :] == table[None, :, :]).all(-1)
    assert (eq.sum(1) == 1).all()
    return eq.float().argmax(1)


def test_paired_sampler_keeps_pairs():
    """'paired': every drawn row satisfies x_1 = T(x_0), and both come from the training sets."""
    x_0, x_1 = _pairs()
    s = PairSampler(x_0, x_1, "paired")
    assert len(s) == 10
    b0, b1 = s.sample(64, torch.Generator().manual_seed(0))
    assert b0.shape == (64, 3) and b1.shape == (64, 3)
    assert torch.equal(_row_index(b0, x_0), _row_index(b1, x_1))
    torch.testing.assert_close(b1, AffineCoupling.rotation(3, 120.0, 5.0).transport(b0), rtol=0, atol=1e-12)


def test_independent_sampler_breaks_pairs():
    """'independent': marginals drawn from the training sets, but only ~1/N of rows are true pairs."""
    n = 10
    x_0, x_1 = _pairs(n)
    s = PairSampler(x_0, x_1, "independent")
    b0, b1 = s.sample(20000, torch.Generator().manual_seed(1))
    i, j = _row_index(b0, x_0), _row_index(b1, x_1)
    frac = float((i == j).double().mean())
    # Binomial(20000, 0.1): standard error 0.0021; 5 standard errors.
    assert abs(frac - 1 / n) < 0.011
    # Both marginals are uniform over the N points (each index about 2000 times).
    for idx in (i, j):
        counts = torch.bincount(idx, minlength=n).double()
        assert counts.min() > 1700 and counts.max() < 2300


def test_sampler_is_deterministic_in_generator():
    """The same generator seed gives the same batch; a different seed a different one."""
    x_0, x_1 = _pairs()
    s = PairSampler(x_0, x_1, "independent")
    a = s.sample(32, torch.Generator().manual_seed(5))
    b = s.sample(32, torch.Generator().manual_seed(5))
    c = s.sample(32, torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not (torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]))


@pytest.mark.parametrize("shape0,shape1", [((10, 2), (9, 2)), ((10, 2), (10, 3)), ((10, 2), (10, 2, 1))])
def test_sampler_mismatched_shapes_raise(shape0, shape1):
    """Source and target sets of different shapes are rejected."""
    with pytest.raises(ValueError):
        PairSampler(torch.zeros(shape0), torch.zeros(shape1), "paired")


def test_sampler_unknown_coupling_raises():
    """A coupling other than 'paired' / 'independent' is rejected."""
    with pytest.raises(ValueError):
        PairSampler(torch.zeros(4, 2), torch.zeros(4, 2), "rotated")
