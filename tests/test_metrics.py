"""Metrics: per-sample Euclidean distance and pair recovery (nearest-neighbour identification)."""

from __future__ import annotations

import math

import pytest
import torch

from rfpipe.metrics import l2, nearest_other, pair_recovery, target_collapse


def test_l2_hand_computed():
    """Per-row Euclidean (not squared) distances: 3-4-5 triangles and a zero row."""
    y = torch.tensor([[3.0, 4.0], [1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-6.0, 8.0]], dtype=torch.float64)
    assert torch.equal(l2(y, x), torch.tensor([5.0, 0.0, 10.0], dtype=torch.float64))


def test_l2_flattens_image_dims():
    """For images (N, C, H, W) the distance runs over all pixels: a constant offset c over P pixels gives c sqrt(P)."""
    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = l2(x + 0.5, x)
    torch.testing.assert_close(out, torch.full((3,), 0.5 * math.sqrt(16), dtype=torch.float64), rtol=1e-12, atol=0)


def test_l2_symmetric_and_triangle():
    """l2 is symmetric and satisfies the triangle inequality row by row."""
    g = torch.Generator().manual_seed(1)
    a, b, c = (torch.randn(20, 5, generator=g, dtype=torch.float64) for _ in range(3))
    assert torch.equal(l2(a, b), l2(b, a))
    assert (l2(a, c) <= l2(a, b) + l2(b, c) + 1e-12).all()


def _distinct_points(n=12, d=3):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3


@pytest.mark.parametrize("shape", [(12, 3), (6, 1, 2, 2)])
def test_pair_recovery_identity_is_one(shape):
    """y = x_1 (distinct points): every endpoint is nearest to its own partner, recovery 1."""
    x_1 = torch.randn(shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert pair_recovery(x_1.clone(), x_1) == 1.0


@pytest.mark.parametrize("shift", [1, 5])
def test_pair_recovery_cyclic_shift_is_zero(shift):
    """y_i = x_1^{i + s}: each endpoint sits exactly on another partner, recovery 0."""
    x_1 = _distinct_points()
    assert pair_recovery(torch.roll(x_1, shifts=-shift, dims=0), x_1) == 0.0


def test_pair_recovery_hand_computed():
    """A hand example: 2 of 4 endpoints recovered (one wrong neighbour, one exact tie counts as a miss)."""
    x_1 = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]], dtype=torch.float64)
    y = torch.tensor([
        [1.0, 1.0],    # nearest x_1^0: recovered
        [1.0, 0.0],    # nearest x_1^0, not x_1^1: missed
        [0.0, 9.0],    # nearest x_1^2: recovered
        [10.0, 5.0],   # equidistant to x_1^1 and x_1^3: a tie, missed
    ], dtype=torch.float64)
    assert pair_recovery(y, x_1) == pytest.approx(0.5)


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_pair_recovery_chunking_invariant(chunk):
    """Chunked evaluation (any chunk size, including ones that do not divide N) equals the unchunked result."""
    g = torch.Generator().manual_seed(4)
    x_1 = torch.randn(25, 2, generator=g, dtype=torch.float64)
    y = x_1 + 0.4 * torch.randn(25, 2, generator=g, dtype=torch.float64)
    ref = pair_recovery(y, x_1, chunk=10_000)
    # Brute-force reference.
    d = torch.cdist(y, x_1)
    brute = float((d.argmin(1) == torch.arange(25)).double().mean())
    assert ref == pytest.approx(brute)
    assert 0 < ref < 1  # a non-trivial case
    assert pair_recovery(y, x_1, chunk=chunk) == ref


def test_pair_recovery_small_common_offset_float32():
    """float32 inputs; an offset far below half the minimum pair separation keeps every pair recovered."""
    x_1 = _distinct_points().float()
    sep = torch.cdist(x_1.double(), x_1.double()) + torch.eye(12, dtype=torch.float64) * 1e9
    assert float(sep.min()) > 1e-2
    assert pair_recovery(x_1 + 1e-4, x_1) == 1.0


def test_nearest_other_by_hand():
    """Points 0, 1, 3 on a line: nearest other 1, 1, 2; against the set itself without exclusion, 0."""
    x = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)
    assert nearest_other(x, x, True, chunk=2).tolist() == [1.0, 1.0, 2.0]
    assert nearest_other(x, x, False).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("dim", [1, 2, 8])
def test_target_collapse_zero_on_targets_about_one_on_fresh_draws(dim: int):
    """Endpoints on training targets: 0. Fresh draws of the target distribution: about 1 (the nearest-neighbour
    distance of one draw against N targets against that of a target against the other N - 1). A fixed offset
    of endpoints on the targets by far more than the spacing: large."""
    g = torch.Generator().manual_seed(dim)
    targets = torch.randn(2000, dim, generator=g, dtype=torch.float64)
    assert target_collapse(targets[torch.randperm(2000, generator=g)[:500]], targets) == 0.0
    fresh = torch.randn(2000, dim, generator=g, dtype=torch.float64)
    assert 0.85 < target_collapse(fresh, targets) < 1.2
    assert target_collapse(targets + 100.0, targets) > 10
    nan_rows = fresh.clone()
    nan_rows[:1500] = float("nan")  # non-finite endpoints count as infinitely far
    assert target_collapse(nan_rows, targets) == math.inf
