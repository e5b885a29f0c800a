"""Mixture-of-Gaussians memorisation (Table 1, claim C5).

Source N(0, I_d); target a mixture of ``n_components`` Gaussians N(mu_k, component_scale^2 I) with
||mu_k|| = radius (:mod:`rfpipe.mixture`). N = ``n_pairs`` training pairs with an arbitrary fixed pairing
(``paired``), or re-paired at random every step (``independent``, the control). C5: at sigma = 0 the flow
memorises (lower memorisation MMD of the training sources' endpoints against the training targets), at
sigma = 0.05 it generalises (lower generalisation MMD of fresh sources' endpoints against fresh targets).
"""

from __future__ import annotations

from dataclasses import dataclass

from rfpipe.config import check_flow_cell
from rfpipe.kinds import FLOW_CELL_OUTPUTS, Kind, register
from rfpipe.settings import CellSettings, MLPSettings, Settings, TrainSettings

__all__ = ["KIND", "MixtureReport", "MixtureData", "MixtureSettings"]


@dataclass(frozen=True)
class MixtureData(Settings):
    """What determines a cell's data: N = ``n_pairs`` pairs and ``n_test`` fresh sources and targets in dimension
    ``dim``, the mixture's ``n_components``, ``radius`` and ``component_scale``, drawn from ``seed``."""

    kind: str
    seed: int
    dim: int
    n_components: int
    radius: float
    component_scale: float
    n_pairs: int
    n_test: int


@dataclass(frozen=True)
class MixtureSettings(CellSettings):
    """One cell: its data, the MLP, its training and the evaluation at each of ``solver_steps``."""

    noise: str
    data: MixtureData
    model: MLPSettings
    train: TrainSettings
    solver: str
    solver_steps: tuple[int, ...]
    n_trajectories: int


@dataclass(frozen=True)
class MixtureReport(Settings):
    """The C5 verdict: sigma = 0 against ``verdict_sigma``, paired t-tests over seeds at level ``alpha``."""

    verdict_sigma: float
    alpha: float


KIND = register(Kind(
    name="mog",
    settings=MixtureSettings,
    package=__name__,
    data_settings=MixtureData,
    cell_outputs=FLOW_CELL_OUTPUTS,
    tables=("summary", "verdicts", "convergence"),
    report_inputs=("metrics", "gradvar", "convergence", "timeline"),
    figures=("mmd", "gradvar", "timeline"),
    key_figures=lambda axes: ("mmd",),
    has_model=True,
    couplings={"paired": "paired", "independent": "independent"},
    check=check_flow_cell,
    report_settings=MixtureReport,
))
