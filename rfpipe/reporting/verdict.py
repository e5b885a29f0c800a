"""The three-outcome verdict rule that every claim's report uses, and the paired one-sided tests behind it.

A claim states one or more *directions* (for example "memorisation MMD at sigma = 0 below that at sigma_v").
For each direction d_1, ..., d_k a report establishes whether it holds (h_i) and whether its opposite holds
(o_i) -- by a one-sided test, h_i = [p_i < alpha] and o_i = [q_i < alpha] with p_i the p-value of d_i and q_i
that of its opposite, or by a threshold or sign rule -- over n independent units (seeds, repetitions).
Then, with a minimum n_min of units (2 unless the rule says otherwise):

    reproduced           if n >= n_min and (h_1 and ... and h_k),
    else not reproduced  if n >= n_min and (o_1 or ... or o_k),
    else inconclusive.

The claims are about what training converges to, so a verdict on trained cells is taken only when every cell
it rests on met its convergence criterion (:mod:`rfpipe.convergence`); otherwise it is ``not converged``,
never ``not reproduced`` (``decide(..., converged=False)``).

An undefined test (NaN p-value) establishes nothing. :func:`decide` is that rule, :func:`significant` turns
p-values into the h_i / o_i, :func:`one_sided` gives the p-values of a paired one-sided test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from scipy import stats

__all__ = ["INCONCLUSIVE", "NOT_CONVERGED", "NOT_REPRODUCED", "REPRODUCED", "VERDICTS", "Verdict", "all_converged",
           "decide", "one_sided", "significant"]

Verdict = Literal["reproduced", "not reproduced", "inconclusive", "not converged"]
REPRODUCED: Verdict = "reproduced"
NOT_REPRODUCED: Verdict = "not reproduced"
INCONCLUSIVE: Verdict = "inconclusive"
NOT_CONVERGED: Verdict = "not converged"
VERDICTS: tuple[Verdict, ...] = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_CONVERGED)
"""The outcomes, in the order the summaries list them (the three of the rule, then ``not converged``)."""


def decide(holds: Iterable[bool], opposite: Iterable[bool], n: int, min_n: int = 2,
           converged: bool = True) -> Verdict:
    """The verdict of a claim (module docstring): ``not converged`` unless ``converged`` (every trained cell the
    evidence rests on met its criterion); else ``reproduced`` if ``n >= min_n`` and every direction of ``holds``
    is established; else ``not reproduced`` if ``n >= min_n`` and any of ``opposite`` is; else
    ``inconclusive``. ``n`` counts the units the evidence rests on (seeds, repetitions)."""
    holds, opposite = [bool(h) for h in holds], [bool(o) for o in opposite]
    if not holds:
        raise ValueError("decide: a claim needs at least one direction in `holds`")
    if not converged:
        return NOT_CONVERGED
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


def all_converged(convergence: Any, match: dict[str, Any]) -> tuple[bool, int, int]:
    """Whether every cell of a ``convergence`` frame (one row per cell: its grid values and ``converged``) that
    ``match`` selects (column -> value, or a collection of values) converged; with the counts (converged,
    cells). No frame (``None``): nothing to check, converged. No selected cell: not converged."""
    if convergence is None:
        return True, 0, 0
    keep = np.ones(len(convergence), dtype=bool)
    for key, value in match.items():
        column = convergence[key].to_numpy()
        keep &= np.isin(column, list(value)) if isinstance(value, (list, tuple, set, frozenset)) else column == value
    selected = convergence["converged"].to_numpy()[keep].astype(bool)
    return bool(len(selected) and selected.all()), int(selected.sum()), int(len(selected))
