"""ReFlow pairs and straightness against closed-form fields, and the rounds' bookkeeping (rfpipe.reflow); the C8
rule is tested in tests/kinds/test_reflow.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rfpipe.couplings import AffineCoupling
from rfpipe.interpolants import Interpolant
from rfpipe.reflow import reflow, reflow_pairs, straightness
from rfpipe.training import TrainConfig


class _Field(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, t):
        return self.fn(x, t)


@pytest.mark.parametrize("steps", [5, 51])
@pytest.mark.parametrize("dim", [1, 2, 5])
def test_translation_flow_is_straight(dim: int, steps: int) -> None:
    """v = shift: pairs are (x_0, x_0 + shift) and the straightness is exactly 0 (paths are chords)."""
    shift = torch.linspace(1.0, 2.0, dim, dtype=torch.float64)
    model = _Field(lambda x, t: shift.expand_as(x))
    x_0 = torch.randn(20, dim, dtype=torch.float64)
    src, x_1 = reflow_pairs(model, x_0, steps)
    torch.testing.assert_close(src, x_0)
    torch.testing.assert_close(x_1, x_0 + shift)
    assert straightness(model, x_0, steps)[1] == pytest.approx(0.0, abs=1e-20)


def test_curved_flow_has_positive_straightness_and_its_value() -> None:
    """v(x, t) = (pi/2) R_90 x turns each source a quarter circle: an arc, not a chord, so the straightness
    is the closed form int_0^1 |v - (x_1 - x_0)|^2 dt = (pi^2/4 - 2) |x_0|^2 (RK4, 400 steps)."""
    rot = AffineCoupling.rotation(2, 90.0, 0.0).matrix
    model = _Field(lambda x, t: x @ rot.T * (torch.pi / 2))
    x_0 = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    end, s = straightness(model, x_0, 400, "rk4")
    torch.testing.assert_close(end, x_0 @ rot.T, rtol=0, atol=1e-9)  # a quarter turn
    # |v|^2 = (pi/2)^2 |x_0|^2, |chord|^2 = 2 |x_0|^2, and int_0^1 v dt = chord, so the integral is
    # (pi^2/4 - 2) |x_0|^2, averaged over the two sources (|x_0|^2 = 1 and 4).
    assert s == pytest.approx((torch.pi ** 2 / 4 - 2) * 2.5, rel=1e-2)

class _RoundShift(nn.Module):
    """A constant field that training cannot move: v = (r + 1) c in the r-th model made (r = 0, 1, ...)."""

    def __init__(self, c: torch.Tensor, r: int) -> None:
        super().__init__()
        self.v = (r + 1) * c
        self.unused = nn.Parameter(torch.zeros(1, dtype=c.dtype))  # something for Adam; its gradient is 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.v.expand_as(x) + 0 * self.unused


@pytest.mark.parametrize("coupling", ["paired", "independent"])
def test_reflow_round_bookkeeping(coupling: str) -> None:
    """Round r's flow v = (r + 1) c ends at x_0 + (r + 1) c: the coupling shift is ||x_0 + c - x_1|| averaged in
    round 0 (against the initial targets), then ||c|| (against the previous round's endpoints); the straightness
    is 0 (constant speed along chords); with T_OT = identity, l2_to_ot = (r + 1) ||c||."""
    dim, rounds = 3, 3
    c = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    made = []

    def make_model() -> nn.Module:
        made.append(_RoundShift(c, len(made)))
        return made[-1]

    x_0 = torch.randn(32, dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x_1 = torch.randn(32, dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    config = TrainConfig(steps=2, batch_size=8, lr=1e-3, probe_every=0)
    out = reflow(make_model, x_0, x_1, coupling, x_0.clone(), Interpolant(0.0), config, rounds, seed=0,
                 solver_steps=5)
    assert [r.round for r in out] == list(range(rounds + 1)) and len(made) == rounds + 1
    norm = float(c.norm())
    assert out[0].coupling_shift == pytest.approx(float((x_0 + c - x_1).norm(dim=1).mean()), rel=1e-12)
    for r in out:
        assert r.straightness == pytest.approx(0.0, abs=1e-20)
        assert r.l2_to_ot == pytest.approx((r.round + 1) * norm, rel=1e-12)
        if r.round >= 1:
            assert r.coupling_shift == pytest.approx(norm, rel=1e-12)
