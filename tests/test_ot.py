"""OT assignments: the exact solver is the brute-force optimum; the blockwise path is a permutation, never
cheaper than exact, exact in one dimension (the sorted matching) and exact when one block holds everything."""

from __future__ import annotations

import itertools

import pytest
import torch

from rfpipe.ot import _principal_direction, assignment_cost, blockwise_assignment, exact_assignment, ot_assignment


def _brute_force(x_0, x_1):
    best, arg = float("inf"), None
    for perm in itertools.permutations(range(x_0.shape[0])):
        cols = torch.tensor(perm)
        cost = assignment_cost(x_0, x_1, cols)
        if cost < best:
            best, arg = cost, cols
    return best, arg


@pytest.mark.parametrize("shape", [(2,), (5,), (1, 3, 3)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_is_the_brute_force_optimum(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    x_0, x_1 = torch.randn((6, *shape), generator=gen), torch.randn((6, *shape), generator=gen)
    cols = exact_assignment(x_0, x_1)
    best, _ = _brute_force(x_0, x_1)
    assert sorted(cols.tolist()) == list(range(6))
    assert assignment_cost(x_0, x_1, cols) == pytest.approx(best, rel=1e-12)


def test_exact_recovers_a_hidden_permutation_of_a_small_shift():
    """x_1 = (x_0 + eps)[perm]: the optimum undoes the permutation (cost eps^2 d against order-1 otherwise)."""
    gen = torch.Generator().manual_seed(3)
    x_0 = torch.randn(200, 1, 4, 4, generator=gen)
    perm = torch.randperm(200, generator=gen)
    x_1 = (x_0 + 1e-3)[perm]
    cols = exact_assignment(x_0, x_1)
    assert torch.equal(x_1[cols], x_0 + 1e-3)


@pytest.mark.parametrize("block", [1, 7, 50, 1000])
def test_blockwise_is_exact_in_one_dimension(block):
    """In 1-D the OT matching for squared cost is the sorted (monotone) matching, which sorting along the
    principal direction and cutting into aligned blocks preserves for every block size."""
    gen = torch.Generator().manual_seed(4)
    x_0, x_1 = torch.randn(300, 1, generator=gen), 2 * torch.randn(300, 1, generator=gen) + 1
    exact = assignment_cost(x_0, x_1, exact_assignment(x_0, x_1))
    assert assignment_cost(x_0, x_1, blockwise_assignment(x_0, x_1, block)) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("block", [16, 64, 100])
@pytest.mark.parametrize("shape", [(3,), (1, 4, 4)])
def test_blockwise_is_a_permutation_no_cheaper_than_exact(block, shape):
    gen = torch.Generator().manual_seed(5)
    x_0, x_1 = torch.randn((100, *shape), generator=gen), torch.randn((100, *shape), generator=gen) + 0.5
    cols = blockwise_assignment(x_0, x_1, block)
    assert sorted(cols.tolist()) == list(range(100))
    exact = assignment_cost(x_0, x_1, exact_assignment(x_0, x_1))
    cost = assignment_cost(x_0, x_1, cols)
    assert cost >= exact - 1e-9
    if block >= 100:
        assert cost == pytest.approx(exact, rel=1e-12)
    # and far better than no matching at all (the identity pairing of independent draws)
    assert cost < assignment_cost(x_0, x_1, torch.arange(100))


def test_ot_assignment_switches_at_exact_max():
    gen = torch.Generator().manual_seed(6)
    x_0, x_1 = torch.randn(40, 3, generator=gen), torch.randn(40, 3, generator=gen)
    assert torch.equal(ot_assignment(x_0, x_1, exact_max=40), exact_assignment(x_0, x_1))
    assert torch.equal(ot_assignment(x_0, x_1, exact_max=39, block=10), blockwise_assignment(x_0, x_1, 10))


def test_unequal_sizes_are_an_error():
    with pytest.raises(ValueError, match="equal sizes"):
        exact_assignment(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="equal sizes"):
        blockwise_assignment(torch.zeros(3, 2), torch.zeros(4, 2))


@pytest.mark.parametrize("chunk", [1, 2, 4096])
def test_assignment_cost_by_hand(chunk):
    """(0,0)->(1,1) costs 2, (1,0)->(0,2) costs 5: mean 3.5, whatever the chunk."""
    x_0 = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    x_1 = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    assert assignment_cost(x_0, x_1, torch.tensor([1, 0]), chunk=chunk) == 3.5
    assert assignment_cost(x_0, x_1, torch.tensor([0, 1]), chunk=chunk) == 2.5  # 4 and 1 (the other matching)


@pytest.mark.parametrize("shape", [(3,), (10,), (1, 4, 4)])
def test_principal_direction_is_the_top_eigenvector(shape):
    """The power iteration finds the top eigenvector of the pooled, centred covariance (up to sign), for two sets
    with different means and a clear eigengap (variances 1 and 9 apart from one axis)."""
    gen = torch.Generator().manual_seed(0)
    dim = int(torch.tensor(shape).prod())
    scale = torch.ones(dim)
    scale[dim // 2] = 3.0
    a = (torch.randn(400, dim, generator=gen) * scale).reshape(400, *shape)
    b = (torch.randn(300, dim, generator=gen) * scale + 0.5).reshape(300, *shape)
    pooled = torch.cat([a, b]).flatten(1).double()
    centred = pooled - pooled.mean(0)
    top = torch.linalg.eigh(centred.T @ centred).eigenvectors[:, -1]
    u = _principal_direction(a.flatten(1), b.flatten(1)).double()
    assert float(u.norm()) == pytest.approx(1.0, abs=1e-6)
    assert abs(float(u @ top)) > 0.999
