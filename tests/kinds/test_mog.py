"""The mog kind (rfpipe.kinds.mog): the C5 verdict rule on frames whose answer is known, and the kind's rows
of the paper table beside the reported numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from synthetic_run import SIGMA_V, read_table

from rfpipe.kinds.mog.report import c5_verdicts
from rfpipe.reporting.reference import reported_results, reported_value


def _mog_frame(mem0, memn, gen0, genn, unbiased0=None, unbiasedn=None) -> pd.DataFrame:
    """Memorisation (biased MMD_b^2), generalisation MMD per seed at sigma 0 and 0.05; the unbiased memorisation
    MMD_u^2 at its floor for both sigmas (-2(1 - kbar)/n, identical up to 1e-6) unless given."""
    floor = [-0.0033 + 1e-6 * i for i in range(len(mem0))]
    unbiased0, unbiasedn = unbiased0 or floor, unbiasedn or floor[::-1]
    rows = []
    for seed in range(len(mem0)):
        for sigma, mem, gen, unbiased in ((0.0, mem0[seed], gen0[seed], unbiased0[seed]),
                                          (0.05, memn[seed], genn[seed], unbiasedn[seed])):
            base = {"coupling": "paired", "solver_steps": 101, "sigma": sigma, "seed": seed, "dim": 3}
            rows += [{**base, "split": "train", "metric": "memorisation_mmd_biased", "value": mem},
                     {**base, "split": "train", "metric": "memorisation_mmd", "value": unbiased},
                     {**base, "split": "test", "metric": "generalisation_mmd", "value": gen}]
    return pd.DataFrame(rows)


def test_c5_rule_and_paper_values():
    """C5: reproduced when sigma = 0 memorises (lower memorisation MMD) and sigma = 0.05 generalises (lower
    generalisation MMD), each by a paired t-test over seeds; the paper's d = 3 numbers sit beside ours."""
    good = _mog_frame([0.01, 0.02, 0.015, 0.012], [0.1, 0.12, 0.11, 0.13],
                      [0.3, 0.31, 0.29, 0.33], [0.1, 0.12, 0.09, 0.11])
    out = c5_verdicts(good, ["dim"], 0.05, 0.05)
    assert list(out["verdict"]) == ["reproduced"]
    assert out["memorisation_mmd_sigma0_paper"].iloc[0] == pytest.approx(1.758e-6)
    assert out["generalisation_mmd_noisy_paper"].iloc[0] == pytest.approx(0.0018)
    bad = _mog_frame([0.1, 0.12, 0.11, 0.13], [0.01, 0.02, 0.015, 0.012],
                     [0.3, 0.31, 0.29, 0.33], [0.1, 0.12, 0.09, 0.11])
    assert list(c5_verdicts(bad, ["dim"], 0.05, 0.05)["verdict"]) == ["not reproduced"]
    flat = _mog_frame([0.1, 0.2, 0.1, 0.2], [0.2, 0.1, 0.2, 0.1], [0.3, 0.3, 0.3, 0.3], [0.3, 0.3, 0.3, 0.3])
    assert list(c5_verdicts(flat, ["dim"], 0.05, 0.05)["verdict"]) == ["inconclusive"]


def test_c5_memorisation_half_is_the_biased_mmd():
    """The memorisation half is decided by MMD_b^2 (0 at exact memorisation), not by MMD_u^2, whose floor is the
    same for both sigmas: separated biased MMDs with floored unbiased ones reproduce; the reverse, separated
    unbiased MMDs with equal biased ones, is inconclusive."""
    gen0, genn = [0.3, 0.31, 0.29, 0.33], [0.1, 0.12, 0.09, 0.11]
    floored = c5_verdicts(_mog_frame([1e-5, 2e-5, 1.5e-5, 1.2e-5], [0.01, 0.012, 0.011, 0.013], gen0, genn),
                          ["dim"], 0.05, 0.05).iloc[0]
    assert floored["verdict"] == "reproduced" and floored["p_memorisation_unbiased"] > 0.05
    frame = _mog_frame([0.1, 0.2, 0.1, 0.2], [0.2, 0.1, 0.2, 0.1], gen0, genn,
                       unbiased0=[-0.003, -0.0031, -0.0029, -0.003], unbiasedn=[0.01, 0.012, 0.011, 0.013])
    reverse = c5_verdicts(frame, ["dim"], 0.05, 0.05).iloc[0]
    assert reverse["verdict"] == "inconclusive" and reverse["p_memorisation_unbiased"] < 0.01


def test_mog_rows_take_the_reported_numbers(paper_run) -> None:
    """paper_value from rfpipe/reference/reported_results.csv (Table 1, d = 3), p-value per MMD."""
    root, _, frame = paper_run
    v = read_table(root, "mixture").iloc[0]
    rows = frame[frame["experiment"] == "mixture"].set_index(["metric", "sigma"])
    ref = reported_results()
    for metric, ref_name in (("memorisation_mmd", "memorization_mmd"), ("generalisation_mmd", "generalization_mmd")):
        for sigma in (0.0, SIGMA_V):
            expected = ref[(ref["table"] == "table1") & (ref["setting"] == "d=3") & (ref["metric"] == ref_name)
                           & np.isclose(ref["sigma"], sigma)]["value"].item()
            assert rows.loc[(metric, sigma), "paper_value"] == pytest.approx(expected)
    assert rows.loc[("memorisation_mmd", 0.0), "paper_value"] == pytest.approx(1.758e-6)
    assert rows.loc[("memorisation_mmd_biased", 0.0), "p_value"] == pytest.approx(v["p_memorisation"])
    assert rows.loc[("memorisation_mmd", 0.0), "p_value"] == pytest.approx(v["p_memorisation_unbiased"])
    assert math.isnan(rows.loc[("memorisation_mmd_biased", 0.0), "paper_value"])  # the paper does not say which
    assert rows.loc[("generalisation_mmd", SIGMA_V), "p_value"] == pytest.approx(v["p_generalisation"])
    assert rows.loc[("generalisation_mmd", 0.0), "ours_mean"] == pytest.approx(v["generalisation_mmd_sigma0"])
    assert set(rows["verdict"]) == {v["verdict"]} == {"reproduced"}
    assert set(rows["setting"]) == {"dim=3, solver_steps=101"}
    assert reported_value("table1", "d=50", "generalisation_mmd", 0.05) == pytest.approx(0.0020)
    assert math.isnan(reported_value("table1", "d=7", "memorisation_mmd", 0.0))
