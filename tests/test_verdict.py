"""The shared three-outcome verdict rule (rfpipe.reporting.verdict) on inputs whose answer is known by hand."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from rfpipe.reporting.verdict import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, VERDICTS, decide, one_sided, significant

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("holds,opposite,n,min_n,want", [
    ([True, True], [False, False], 3, 2, REPRODUCED),          # every direction established
    ([True], [False], 2, 2, REPRODUCED),                       # exactly the minimum number of units
    ([True, False], [False, True], 3, 2, NOT_REPRODUCED),      # one opposite direction established
    ([False, False], [True, False], 3, 2, NOT_REPRODUCED),
    ([True, False], [False, False], 3, 2, INCONCLUSIVE),       # one of two directions only, nothing against
    ([False], [False], 5, 2, INCONCLUSIVE),                    # nothing established
    ([True, True], [False, False], 1, 2, INCONCLUSIVE),        # too few units, however clear
    ([False], [True], 1, 2, INCONCLUSIVE),                     # too few units to refute either
    ([True], [False], 1, 1, REPRODUCED),                       # a threshold rule: one unit suffices
    ([False], [True], 1, 1, NOT_REPRODUCED),
    ([False], [False], 0, 1, INCONCLUSIVE),                    # no units at all
    ([True, True], [True, False], 2, 2, REPRODUCED),           # reproduced is decided first
])
def test_decide_each_outcome(holds, opposite, n, min_n, want) -> None:
    """reproduced iff n >= n_min and every h_i; else not reproduced iff n >= n_min and some o_i; else
    inconclusive."""
    assert decide(holds, opposite, n, min_n=min_n) == want


def test_decide_defaults_to_two_units_and_needs_a_direction() -> None:
    assert decide([True], [False], 2) == REPRODUCED and decide([True], [False], 1) == INCONCLUSIVE
    assert decide(np.array([True, True]), (x for x in [False]), 4) == REPRODUCED  # numpy bools, generators
    with pytest.raises(ValueError, match="at least one direction"):
        decide([], [True], 5)
    assert VERDICTS == ("reproduced", "not reproduced", "inconclusive", "not converged")


def test_significant_is_strict_and_nan_is_no_evidence() -> None:
    assert significant([0.001, 0.05, 0.0500001, math.nan, 0.2], 0.05) == [True, False, False, False, False]
    # An undefined test establishes nothing: NaN p-values on both sides give inconclusive.
    assert decide(significant([math.nan], 0.05), significant([math.nan], 0.05), 10) == INCONCLUSIVE


def test_one_sided_t_by_hand() -> None:
    """a - b = (-1, -2, -3): t = -2 / (1 / sqrt 3) on 2 degrees of freedom, p(less) = 0.03709 (t table), and
    p(less) + p(greater) = 1."""
    less, greater = one_sided([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    assert less == pytest.approx(0.03708995, abs=1e-8)
    assert less + greater == pytest.approx(1.0)
    assert one_sided([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == pytest.approx((greater, less))  # swapped sides
    assert decide(significant([less], 0.05), significant([greater], 0.05), 3) == REPRODUCED
    assert decide(significant([greater], 0.05), significant([less], 0.05), 3) == NOT_REPRODUCED
    assert decide(significant([less], 0.01), significant([greater], 0.01), 3) == INCONCLUSIVE


def test_one_sided_pairs_by_position_and_degenerate_cases() -> None:
    import pandas as pd

    a = pd.Series([0.0, 0.0, 1.0], index=[2, 1, 0])
    b = pd.Series([1.0, 2.0, 3.0], index=[0, 1, 2])  # positions pair (diffs -1, -2, -2), not labels (0, -2, -3)
    assert one_sided(a, b) == pytest.approx(one_sided([-1.0, -2.0, -2.0], [0.0, 0.0, 0.0]))
    assert one_sided(a, b) != pytest.approx(one_sided([0.0, -2.0, -3.0], [0.0, 0.0, 0.0]))
    for x, y in (([1.0], [0.0]), ([], []), ([1.0, 2.0], [0.0, 1.0])):  # one pair, none, constant differences
        assert all(math.isnan(p) for p in one_sided(x, y))
    with pytest.raises(ValueError, match="unknown test"):
        one_sided([1.0, 2.0], [0.0, 0.0], test="z")


def test_one_sided_wilcoxon_by_hand() -> None:
    """Six negative differences: the exact one-sided signed-rank p is 1 / 2^6; constant non-zero differences are
    a valid Wilcoxon sample (not for the t-test); all-zero ones are not."""
    less, greater = one_sided(np.zeros(6), np.arange(1.0, 7.0), test="wilcoxon")
    assert less == pytest.approx(1 / 64) and greater == pytest.approx(1.0)
    assert one_sided(np.zeros(6), np.ones(6), test="wilcoxon")[0] == pytest.approx(1 / 64)
    assert all(math.isnan(p) for p in one_sided(np.ones(6), np.ones(6), test="wilcoxon"))
    assert all(math.isnan(p) for p in one_sided([0.0], [1.0], test="wilcoxon"))
    assert decide(significant([less], 0.05), significant([greater], 0.05), 6) == REPRODUCED
    assert decide(significant([less], 0.01), significant([greater], 0.01), 6) == INCONCLUSIVE


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def test_the_rule_is_written_once() -> None:
    """No module of the package but rfpipe.reporting.verdict spells a verdict: the reports take it from decide
    (and the constants), so the three outcomes have one definition."""
    spelled = {str(p.relative_to(ROOT)) for p in sorted((ROOT / "rfpipe").rglob("*.py"))
               if p.name != "verdict.py" and _string_constants(p) & set(VERDICTS)}
    assert spelled == set()
