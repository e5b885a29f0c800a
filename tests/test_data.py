"""Rotation data (Counter Example 1): partners, reproducibility and the file round trip."""

from __future__ import annotations

import pytest
import torch

from rfpipe.couplings import rotation_matrix
from rfpipe.data import PairedData, rotation_data


@pytest.mark.parametrize("shift", [5.0, -1.5])
def test_rotation_180_partner_is_reflection(shift):
    """dim 2, 180 degrees: x_1 = shift - x_0 and x_1_ot = x_0 + shift (float32 storage tolerance)."""
    data = rotation_data(2, 180.0, shift, n_pairs=32, n_test=16, seed=0)
    for split in (data.train, data.test):
        torch.testing.assert_close(split.x_1, shift - split.x_0, rtol=0, atol=2e-6)
        torch.testing.assert_close(split.x_1_ot, split.x_0 + shift, rtol=0, atol=2e-6)


@pytest.mark.parametrize("dim,angle", [(2, 30.0), (3, 120.0), (5, 90.0)])
def test_rotation_partner_general(dim, angle):
    """x_1 = R_angle x_0 + shift (row vectors: x_0 R^T), shapes (N, dim), float32."""
    data = rotation_data(dim, angle, 2.0, n_pairs=20, n_test=10, seed=1)
    r = rotation_matrix(dim, angle)
    assert data.train.x_0.shape == (20, dim) and data.test.x_0.shape == (10, dim)
    for split in (data.train, data.test):
        assert split.x_0.dtype == split.x_1.dtype == split.x_1_ot.dtype == torch.float32
        expected = split.x_0.double() @ r.T + 2.0
        torch.testing.assert_close(split.x_1.double(), expected, rtol=0, atol=1e-5)
        # Rotation preserves distances from the shift: ||x_1 - shift|| = ||x_0||.
        torch.testing.assert_close((split.x_1 - 2.0).norm(dim=1), split.x_0.norm(dim=1), rtol=1e-5, atol=1e-5)


def test_ot_partner_is_translation_for_every_angle():
    """The OT partner does not depend on the angle: x_0 + shift, the same for 0 and 180 degrees."""
    a = rotation_data(2, 0.0, 5.0, 8, 4, seed=3)
    b = rotation_data(2, 180.0, 5.0, 8, 4, seed=3)
    assert torch.equal(a.train.x_0, b.train.x_0) and torch.equal(a.train.x_1_ot, b.train.x_1_ot)
    # Angle 0 is the OT coupling itself.
    assert torch.equal(a.train.x_1, a.train.x_1_ot)


def test_sources_standard_normal():
    """Sources are N(0, I): mean near 0 and variance near 1 over 4000 draws."""
    x = rotation_data(2, 180.0, 5.0, n_pairs=4000, n_test=2, seed=0).train.x_0.double()
    assert x.mean(0).abs().max() < 0.08  # 5 standard errors of 1/sqrt(4000)
    assert (x.var(0) - 1).abs().max() < 0.1


def test_same_seed_same_data_different_seed_different():
    """Same seed: identical tensors; another seed: different sources; train and test sources differ."""
    a = rotation_data(2, 180.0, 5.0, 16, 8, seed=7)
    b = rotation_data(2, 180.0, 5.0, 16, 8, seed=7)
    c = rotation_data(2, 180.0, 5.0, 16, 8, seed=8)
    for name in ("x_0", "x_1", "x_1_ot"):
        assert torch.equal(getattr(a.train, name), getattr(b.train, name))
        assert torch.equal(getattr(a.test, name), getattr(b.test, name))
    assert not torch.equal(a.train.x_0, c.train.x_0)
    assert not torch.equal(a.train.x_0[:8], a.test.x_0)


def test_save_load_round_trip(tmp_path):
    """PairedData.save then load gives every tensor back bit for bit, and leaves only the target file."""
    data = rotation_data(3, 120.0, 5.0, 16, 8, seed=2)
    path = tmp_path / "sub" / "data.pt"
    data.save(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.pt"]
    back = PairedData.load(path)
    for split in ("train", "test"):
        for name in ("x_0", "x_1", "x_1_ot"):
            orig, got = getattr(getattr(data, split), name), getattr(getattr(back, split), name)
            assert got.dtype == orig.dtype and torch.equal(got, orig)


def test_ot_partners_is_an_optimal_permutation():
    """ot_partners returns a permutation of x_1 whose total squared cost is the minimum: no lower than the
    identity pairing, 200 random permutations, or any pairwise swap."""
    import torch

    from rfpipe.data import ot_partners

    g = torch.Generator().manual_seed(0)
    x_0, x_1 = torch.randn(12, 3, generator=g), torch.randn(12, 3, generator=g) + 1
    y = ot_partners(x_0, x_1)
    assert sorted(map(tuple, y.tolist())) == sorted(map(tuple, x_1.tolist()))
    cost = float(((x_0 - y) ** 2).sum())
    assert cost <= float(((x_0 - x_1) ** 2).sum()) + 1e-9
    for _ in range(200):
        perm = torch.randperm(12, generator=g)
        assert cost <= float(((x_0 - x_1[perm]) ** 2).sum()) + 1e-9
    for i in range(12):
        for j in range(i + 1, 12):
            z = y.clone()
            z[[i, j]] = z[[j, i]]
            assert cost <= float(((x_0 - z) ** 2).sum()) + 1e-9


def test_mixture_data_shapes_and_determinism():
    """mixture_data: N training pairs, n_test fresh sources and targets, the OT partners a permutation of the
    split's targets; same seed same tensors."""
    import torch

    from rfpipe.data import mixture_data

    a = mixture_data(3, 4, 5.0, 0.5, 20, 30, seed=1)
    b = mixture_data(3, 4, 5.0, 0.5, 20, 30, seed=1)
    assert a.train.x_0.shape == (20, 3) and a.test.x_1.shape == (30, 3)
    for split in ("train", "test"):
        for name in ("x_0", "x_1", "x_1_ot"):
            assert torch.equal(getattr(getattr(a, split), name), getattr(getattr(b, split), name))
        pairs = getattr(a, split)
        assert torch.equal(pairs.x_1_ot.sort(0).values, pairs.x_1.sort(0).values)
    assert not torch.equal(mixture_data(3, 4, 5.0, 0.5, 20, 30, seed=2).train.x_0, a.train.x_0)
