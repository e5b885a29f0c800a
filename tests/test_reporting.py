"""Verdict rules of the reports, on frames whose answer is known."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rfpipe.kinds.mog.report import c5_verdicts
from rfpipe.kinds.rotation.report import c4_verdicts
from rfpipe.reporting import mean_ci


def test_mean_ci_student_t():
    """mean +- t_{0.975, n-1} s / sqrt(n): for (1, 2, 3) that is 2 +- 4.303 * 1 / sqrt(3)."""
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0
    assert hi - m == pytest.approx(4.302652729911275 / math.sqrt(3), rel=1e-9)
    assert m - lo == pytest.approx(hi - m)
    assert all(math.isnan(v) for v in mean_ci([5.0])[1:])


def _rotation_frame(d0: list[float], dn: list[float]) -> pd.DataFrame:
    rows = []
    for seed, (a, b) in enumerate(zip(d0, dn)):
        for sigma, d in ((0.0, a), (0.05, b)):
            rows += [{"coupling": "rotated", "split": "train", "solver_steps": 11, "sigma": sigma, "seed": seed,
                      "metric": "l2_to_ot", "value": 2.0 + d},
                     {"coupling": "rotated", "split": "train", "solver_steps": 11, "sigma": sigma, "seed": seed,
                      "metric": "l2_to_training_partner", "value": 2.0},
                     {"coupling": "rotated", "split": "train", "solver_steps": 11, "sigma": sigma, "seed": seed,
                      "metric": "pair_recovery", "value": 0.5},
                     {"coupling": "rotated", "split": "train", "solver_steps": 11, "sigma": sigma, "seed": seed,
                      "metric": "closer_to_partner", "value": 0.5}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("d0,dn,verdict", [
    ([1.0, 0.5, 0.2], [-0.3, -0.1, -0.4], "reproduced"),
    ([-1.0, -0.5, -0.2], [-0.3, -0.1, -0.4], "not reproduced"),
    ([1.0, 0.5, 0.2], [0.3, 0.1, 0.4], "not reproduced"),
    ([1.0, -0.5, 0.2], [-0.3, -0.1, -0.4], "inconclusive"),
    ([1.0], [-1.0], "inconclusive"),
])
def test_c4_rule(d0, dn, verdict):
    """C4: D = l2_to_ot - l2_to_training_partner; reproduced iff D(0) > 0 and D(0.05) < 0 in every seed."""
    out = c4_verdicts(_rotation_frame(d0, dn), [], 0.05)
    assert list(out["verdict"]) == [verdict]


def _mog_frame(mem0, memn, gen0, genn) -> pd.DataFrame:
    rows = []
    for seed in range(len(mem0)):
        for sigma, mem, gen in ((0.0, mem0[seed], gen0[seed]), (0.05, memn[seed], genn[seed])):
            base = {"coupling": "paired", "solver_steps": 101, "sigma": sigma, "seed": seed, "dim": 3}
            rows += [{**base, "split": "train", "metric": "memorisation_mmd", "value": mem},
                     {**base, "split": "test", "metric": "generalisation_mmd", "value": gen}]
    return pd.DataFrame(rows)


def test_c5_rule_and_paper_values():
    """C5: reproduced when sigma = 0 memorises (lower memorisation MMD) and sigma = 0.05 generalises (lower
    generalisation MMD), each by a paired t-test over seeds; the paper's d = 3 numbers sit beside ours."""
    good = _mog_frame([0.01, 0.02, 0.015, 0.012], [0.1, 0.12, 0.11, 0.13], [0.3, 0.31, 0.29, 0.33], [0.1, 0.12, 0.09, 0.11])
    out = c5_verdicts(good, ["dim"], 0.05, 0.05)
    assert list(out["verdict"]) == ["reproduced"]
    assert out["memorisation_mmd_sigma0_paper"].iloc[0] == pytest.approx(1.758e-6)
    assert out["generalisation_mmd_noisy_paper"].iloc[0] == pytest.approx(0.0018)
    bad = _mog_frame([0.1, 0.12, 0.11, 0.13], [0.01, 0.02, 0.015, 0.012], [0.3, 0.31, 0.29, 0.33], [0.1, 0.12, 0.09, 0.11])
    assert list(c5_verdicts(bad, ["dim"], 0.05, 0.05)["verdict"]) == ["not reproduced"]
    flat = _mog_frame([0.1, 0.2, 0.1, 0.2], [0.2, 0.1, 0.2, 0.1], [0.3, 0.3, 0.3, 0.3], [0.3, 0.3, 0.3, 0.3])
    assert list(c5_verdicts(flat, ["dim"], 0.05, 0.05)["verdict"]) == ["inconclusive"]
