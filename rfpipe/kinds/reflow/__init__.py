"""The ReFlow stall (Lemma 2, claim C8).

Source N(0, I_d), target N(shift * 1, I). Round 0 trains on the ``ot`` coupling (x_1 = x_0 + shift, already
straight) or the ``independent`` one; each of ``rounds`` ReFlow rounds retrains a fresh network on the pairs
(x_0, phi(x_0)) the previous flow generates, with the same sigma (:func:`rfpipe.reflow.reflow`). C8: with the
deterministic interpolant (sigma = 0) ReFlow started at a straight coupling stalls: the coupling shift of every
round stays below ``stall_tol`` of the mean chord ||x_1 - x_0||.
"""

from __future__ import annotations

from dataclasses import dataclass

from rfpipe.kinds import Kind, register
from rfpipe.settings import AdamSettings, CellSettings, MLPSettings, Settings

__all__ = ["KIND", "ReflowReport", "ReflowSettings", "ReflowTrainSettings"]


@dataclass(frozen=True)
class ReflowTrainSettings(AdamSettings):
    """:class:`AdamSettings` of every round, with the convergence criterion each round is held to
    (``converge_tol``, ``loss_target``: :mod:`rfpipe.convergence`)."""

    converge_tol: float
    loss_target: float


@dataclass(frozen=True)
class ReflowSettings(CellSettings):
    """One cell: ``n_pairs`` sources in dimension ``dim``, round 0 and ``rounds`` ReFlow rounds of the MLP, each
    trained by ``train``; pairs generated and measured with ``solver`` at ``solver_steps``."""

    noise: str
    dim: int
    shift: float
    n_pairs: int
    rounds: int
    model: MLPSettings
    train: ReflowTrainSettings
    solver: str
    solver_steps: int


@dataclass(frozen=True)
class ReflowReport(Settings):
    """The C8 verdict: a round's coupling shift below ``stall_tol`` of the mean chord counts as stalled."""

    stall_tol: float


KIND = register(Kind(
    name="reflow",
    settings=ReflowSettings,
    package=__name__,
    cell_outputs={"reflow": "reflow.parquet"},
    report_inputs=("reflow",),
    figures=("reflow",),
    key_figures=lambda axes: ("reflow",),
    couplings={"ot": "paired", "independent": "independent"},
    report_settings=ReflowReport,
))
