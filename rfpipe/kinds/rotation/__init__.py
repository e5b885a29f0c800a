"""Counter Example 1 (claim C4): a 180-degree rotation pairing whose interpolation lines all cross at t = 1/2.

Source N(0, I_d); training pairs x_1 = R_angle x_0 + shift * 1 (R_angle a rotation in the first coordinate
plane). The ``rotated`` coupling trains on those N fixed pairs, ``independent`` re-pairs the same sources and
targets at random every step. C4: at sigma = 0 the flow's endpoints reproduce the crossing training pairing
(nearer the training partner than the OT partner); at sigma > 0 they do not.

``jobs``: the data (:func:`rfpipe.data.rotation_data`), the cell job (train, then evaluate with trajectories);
``report``: tables, figures, the C4 verdict and the paper rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from rfpipe.config import check_flow_cell
from rfpipe.kinds import FLOW_CELL_OUTPUTS, Kind, register
from rfpipe.settings import CellSettings, MLPSettings, Settings, TrainSettings

__all__ = ["KIND", "RotationReport", "RotationData", "RotationSettings"]


@dataclass(frozen=True)
class RotationData(Settings):
    """What determines a cell's data: N = ``n_pairs`` pairs x_1 = R_angle x_0 + shift * 1 in dimension ``dim``,
    and ``n_test`` fresh sources, drawn from ``seed``."""

    kind: str
    seed: int
    dim: int
    angle: float
    shift: float
    n_pairs: int
    n_test: int


@dataclass(frozen=True)
class RotationSettings(CellSettings):
    """One cell: its data, the MLP, its training, and the evaluation at each of ``solver_steps`` (the paths of the
    first ``n_trajectories`` training sources kept)."""

    noise: str
    data: RotationData
    model: MLPSettings
    train: TrainSettings
    solver: str
    solver_steps: tuple[int, ...]
    n_trajectories: int


@dataclass(frozen=True)
class RotationReport(Settings):
    """The C4 verdict: sigma = 0 against the noisy ``verdict_sigma``."""

    verdict_sigma: float


KIND = register(Kind(
    name="rotation",
    settings=RotationSettings,
    package=__name__,
    data_settings=RotationData,
    cell_outputs=FLOW_CELL_OUTPUTS,
    tables=("summary", "verdicts", "convergence"),
    report_inputs=("metrics", "gradvar", "convergence", "timeline", "trajectories"),
    figures=("gradvar", "gradvar_t", "trajectories", "memorisation_map", "timeline"),
    key_figures=lambda axes: ("memorisation_map",) if "n_pairs" in axes else ("trajectories",),
    has_model=True,
    couplings={"rotated": "paired", "independent": "independent"},
    check=check_flow_cell,
    report_settings=RotationReport,
))
