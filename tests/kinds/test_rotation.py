"""The rotation kind (rfpipe.kinds.rotation): the C4 verdict rule on frames whose answer is known, and the
kind's rows of the paper table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_run import SEEDS, SIGMA_V, read_table

from rfpipe.kinds.rotation.report import c4_verdicts


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


def test_rotation_rows_copy_the_c4_verdicts(paper_run) -> None:
    root, _, frame = paper_run
    verdicts = read_table(root, "rot")
    summary = pd.read_csv(root / "rot" / "tables" / "summary.csv")
    rows = frame[frame["experiment"] == "rot"]
    assert set(verdicts["verdict"]) == {"reproduced", "not reproduced"}  # both outcomes are exercised
    for _, v in verdicts.iterrows():
        setting = f"n_pairs={v['n_pairs']}, solver_steps={v['solver_steps']}"
        part = rows[rows["setting"] == setting]
        assert len(part) == 8
        assert (part["verdict"] == v["verdict"]).all() and np.allclose(part["p_value"], v["p_value"])
        for metric in ("l2_to_training_partner", "pair_recovery"):
            for label, sigma in (("sigma0", 0.0), ("noisy", SIGMA_V)):
                row = part[(part["metric"] == metric) & (part["sigma"] == sigma)].iloc[0]
                assert row["ours_mean"] == pytest.approx(v[f"{metric}_{label}"])
                s = summary[(summary["n_pairs"] == v["n_pairs"]) & (summary["solver_steps"] == v["solver_steps"])
                            & (summary["split"] == "train") & (summary["metric"] == metric)
                            & (summary["sigma"] == sigma)].iloc[0]
                assert (row["ours_ci_low"], row["ours_ci_high"]) == pytest.approx((s["ci_low"], s["ci_high"]))
                assert row["n_seeds"] == len(SEEDS)
    assert rows["paper_value"].isna().all()  # C4: a direction, no reported number


@pytest.mark.parametrize("unconverged", [None, (0.0, 1), (0.05, 0)])
def test_c4_not_converged_whenever_a_cell_it_rests_on_is(unconverged) -> None:
    """The evidence of a reproduced setting stands only when all its cells converged: one unconverged cell at
    either sigma gives 'not converged' (never 'not reproduced'); the counts are in the row."""
    cells = [(sigma, seed) for sigma in (0.0, 0.05) for seed in range(3)]
    convergence = pd.DataFrame({"coupling": "rotated", "sigma": [s for s, _ in cells], "seed": [k for _, k in cells],
                                "converged": [(s, k) != unconverged for s, k in cells]})
    out = c4_verdicts(_rotation_frame([1.0, 0.5, 0.2], [-0.3, -0.1, -0.4]), [], 0.05, convergence).iloc[0]
    assert out["verdict"] == ("reproduced" if unconverged is None else "not converged")
    assert (out["cells_converged"], out["cells"]) == (6 - (unconverged is not None), 6)
