"""Shared statistics of the reports (rfpipe.reporting); each kind's verdict rule is tested in
tests/kinds/test_<kind>.py."""

from __future__ import annotations

import math

import pytest

from rfpipe.reporting import mean_ci


def test_mean_ci_student_t():
    """mean +- t_{0.975, n-1} s / sqrt(n): for (1, 2, 3) that is 2 +- 4.303 * 1 / sqrt(3)."""
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0
    assert hi - m == pytest.approx(4.302652729911275 / math.sqrt(3), rel=1e-9)
    assert m - lo == pytest.approx(hi - m)
    assert all(math.isnan(v) for v in mean_ci([5.0])[1:])
