"""Gradient variance at closed-form Gaussian fields (claims C1-C3; no training).

X_0 ~ N(0, I_d), X_1 ~ N(mean * 1, M). The loss-gradient variance at the closed-form field consistent with
``field`` (``ot``, or ``rotated`` by ``angle``) on data from ``coupling``, by Monte Carlo over ``repetitions``
independent batches of ``n_samples`` (:mod:`rfpipe.gaussian`). C1: zero loss and zero variance at sigma = 0 for
a field on its own pairs, positive for sigma > 0; C2: for sigma > 0 lower variance at the OT field than at the
rotated one; C3: at the OT field, independent pairs give lower variance than 120-degree rotated pairs. One job
computes every cell of the experiment, or ``chunks`` jobs
each a contiguous share of them, merged into one file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rfpipe.config import ConfigError
from rfpipe.kinds import Kind, register
from rfpipe.settings import CellSettings, Settings

__all__ = ["KIND", "GaussianVarianceReport", "GaussianVarianceSettings"]


@dataclass(frozen=True)
class GaussianVarianceSettings(CellSettings):
    """One cell: the ``field`` measured at, the data (``dim``, ``mean``, ``cov``; ``angle`` of the rotated
    coupling and field) and the Monte Carlo (``repetitions`` batches of ``n_samples``, ``t_bins`` bins)."""

    noise: str
    field: str
    dim: int
    angle: float
    cov: str
    mean: float
    n_samples: int
    repetitions: int
    t_bins: int


@dataclass(frozen=True)
class GaussianVarianceReport(Settings):
    """C1: a trace at or below ``zero_tol`` counts as zero; C2, C3: paired tests at level ``alpha``."""

    zero_tol: float
    alpha: float


def _check(where: str, settings: dict, grid: dict, check_data: bool) -> None:
    cells = math.prod(len(v) for v in grid.values())
    if settings.get("chunks", 1) > cells:
        raise ConfigError(f"{where}.chunks: {settings['chunks']} jobs for {cells} cells; allowed: at most the "
                          f"number of cells")
    for n in grid.get("n_samples", [settings.get("n_samples")]):
        for b in grid.get("t_bins", [settings.get("t_bins")]):
            if n is not None and b is not None and n < 2 * b:
                raise ConfigError(f"{where}.n_samples: {n} must be at least 2 * t_bins = {2 * b} "
                                  f"(two samples per t-bin)")


KIND = register(Kind(
    name="gaussian_variance",
    settings=GaussianVarianceSettings,
    package=__name__,
    experiment_outputs={"variance": "variance.parquet"},
    report_inputs=("variance",),
    tables=("variance_summary", "variance_verdicts"),
    figures=("variance_t", "variance_angle", "variance_c3"),
    key_figures=lambda axes: ("variance_angle", "variance_c3"),
    check=_check,
    report_settings=GaussianVarianceReport,
    workflow_keys=frozenset({"chunks"}),
))
