"""ReFlow pairs and straightness against closed-form fields; the C8 rule."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from rfpipe.couplings import AffineCoupling
from rfpipe.reflow import reflow_pairs, straightness
from rfpipe.reporting.reflow import c8_verdicts


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
    assert src is x_0
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


def _frame(shifts: dict[tuple[str, float], list[list[float]]]) -> pd.DataFrame:
    rows = []
    for (coupling, sigma), per_seed in shifts.items():
        for seed, values in enumerate(per_seed):
            for r, v in enumerate(values):
                rows.append({"coupling": coupling, "sigma": sigma, "seed": seed, "round": r,
                             "metric": "relative_shift", "value": v})
    return pd.DataFrame(rows)


def test_c8_rule() -> None:
    """C8 is decided on the OT start at sigma = 0 only: all later rounds below stall_tol -> reproduced."""
    ok = _frame({("ot", 0.0): [[0.1, 0.001, 0.002], [0.1, 0.003, 0.001]], ("independent", 0.0): [[0.5, 0.2, 0.1]] * 2})
    out = c8_verdicts(ok, [], 0.01).set_index(["coupling", "sigma"])
    assert out.loc[("ot", 0.0), "verdict"] == "reproduced"
    assert out.loc[("independent", 0.0), "stalls"] == "no"
    bad = _frame({("ot", 0.0): [[0.1, 0.05, 0.002], [0.1, 0.04, 0.001]]})
    assert c8_verdicts(bad, [], 0.01)["verdict"].tolist() == ["not reproduced"]
    mixed = _frame({("ot", 0.0): [[0.1, 0.05, 0.002], [0.1, 0.001, 0.001]]})
    assert c8_verdicts(mixed, [], 0.01)["verdict"].tolist() == ["inconclusive"]
