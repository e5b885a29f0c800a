"""The three-outcome verdict rule that every claim's report uses, and the paired one-sided tests behind it.

A claim states one or more *directions* (for example "memorisation MMD at sigma = 0 below that at sigma_v").
For each direction d_1, ..., d_k a report establishes whether it holds (h_i) and whether its opposite holds
(o_i) -- by a one-sided test, h_i = [p_i < alpha] and o_i = [q_i < alpha] with p_i the p-value of d_i and q_i
that of its opposite, or by a threshold or sign rule -- over n independent units (seeds, repetitions).
Then, with a minimum n_min of units (2 unless the rule says otherwise):

    reproduced           if n >= n_min and (h_1 and ... and h_k),
    else not reproduced  if n >= n_min and (o_1 or ... or o_k),
    else inconclusive.

An undefined test (NaN p-value) establishes nothing. :func:`decide` is that rule, :func:`significant` turns
p-values into the h_i / o_i, :func:`one_sided` gives the p-values of a paired one-sided test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from scipy import stats

__all__ = ["INCONCLUSIVE", "NOT_REPRODUCED", "REPRODUCED", "VERDICTS", "Verdict", "decide", "one_sided",
           "significant"]

Verdict = Literal["reproduced", "not reproduced", "inconclusive"]
REPRODUCED: Verdict = "reproduced"
NOT_REPRODUCED: Verdict = "not reproduced"
INCONCLUSIVE: Verdict = "inconclusive"
VERDICTS: tuple[Verdict, ...] = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
"""The three outcomes, in the order the summaries list them."""


def decide(holds: Iterable[bool], opposite: Iterable[bool], n: int, min_n: int = 2) -> Verdict:
    """The verdict of a claim (module docstring): ``reproduced`` if ``n >= min_n`` and every direction of
    ``holds`` is established; else ``not reproduced`` if ``n >= min_n`` and any of ``opposite`` is; else
    ``inconclusive``. ``n`` counts the units the evidence rests on (seeds, repetitions)."""
    holds, opposite = [bool(h) for h in holds], [bool(o) for o in opposite]
    if not holds:
        raise ValueError("decide: a claim needs at least one direction in `holds`")
    if n >= min_n and all(holds):
        return REPRODUCED
    if n >= min_n and any(opposite):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def significant(p_values: Iterable[float], alpha: float) -> list[bool]:
    """``p < alpha`` for each p-value (False for NaN): which tested directions are established."""
    return [bool(p < alpha) for p in p_values]


def one_sided(a: Any, b: Any, test: Literal["t", "wilcoxon"] = "t") -> tuple[float, float]:
    """p-values of mean(a - b) < 0 and of mean(a - b) > 0 for samples ``a``, ``b`` paired by position.

    ``test="t"``: one-sample t-test of the differences (NaN, NaN for fewer than two or constant differences);
    ``test="wilcoxon"``: Wilcoxon signed-rank test (NaN, NaN for fewer than two or all-zero differences).
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if test == "t":
        if len(diff) < 2 or diff.std() == 0:
            return math.nan, math.nan
        return (float(stats.ttest_1samp(diff, 0.0, alternative="less").pvalue),
                float(stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue))
    if test == "wilcoxon":
        if len(diff) < 2 or (diff == 0).all():
            return math.nan, math.nan
        return (float(stats.wilcoxon(diff, alternative="less").pvalue),
                float(stats.wilcoxon(diff, alternative="greater").pvalue))
    raise ValueError(f"one_sided: unknown test {test!r} (t or wilcoxon)")
