"""The numbers reported for the paper's tables, in one place: ``rfpipe/reference/reported_results.csv``.

Third-party summaries report them; they were not checked against the PDF, so every table that shows them
labels them "reported" (``rfpipe/reference/README.md``). Columns: ``table`` (``table1``, ``table2``,
``table3``), ``experiment``, ``setting`` (``d=3``, ``n=5000``, ...), ``metric`` (the paper's spelling),
``direction``, ``sigma``, ``value``, ``std``, ``source_note``.
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["METRIC_ALIASES", "reported_results", "reported_value"]

METRIC_ALIASES: dict[str, str] = {"memorisation_mmd": "memorization_mmd", "generalisation_mmd": "generalization_mmd"}
"""Our metric name -> the reference file's, where they are spelt differently."""


@functools.lru_cache(maxsize=1)
def _reported() -> pd.DataFrame:
    with resources.files("rfpipe").joinpath("reference/reported_results.csv").open() as f:
        return pd.read_csv(f)


def reported_results() -> pd.DataFrame:
    """The numbers reported for the paper's tables (a fresh copy of ``rfpipe/reference/reported_results.csv``)."""
    return _reported().copy()


def reported_value(table: str, setting: str, metric: str, sigma: float) -> float:
    """The number reported for the paper's ``table`` (``table1``, ``table2``, ``table3``) at ``setting``
    (``d=3``, ``n=5000``, ...), ``metric`` (our spelling or the reference file's, :data:`METRIC_ALIASES`) and
    ``sigma`` (to within :func:`numpy.isclose`); NaN if the reference file has none."""
    ref = _reported()
    name = METRIC_ALIASES.get(metric, metric)
    rows = ref[(ref["table"] == table) & (ref["setting"] == setting) & (ref["metric"] == name)
               & np.isclose(ref["sigma"].astype(float), float(sigma))]
    return float(rows["value"].iloc[0]) if len(rows) else math.nan
