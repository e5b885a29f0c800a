"""The ReFlow experiment's job: round 0 and the ReFlow rounds of one cell (:func:`rfpipe.reflow.reflow`)."""

from __future__ import annotations

import logging
import os

import pyarrow as pa
import torch

from rfpipe.interpolants import Interpolant
from rfpipe.io import write_parquet
from rfpipe.kinds import get
from rfpipe.kinds.reflow import ReflowSettings
from rfpipe.models import MLP
from rfpipe.pipeline import recorded_failure
from rfpipe.reflow import reflow

__all__ = ["REFLOW_SCHEMA", "reflow_cell", "run_cell"]

log = logging.getLogger("rfpipe")

REFLOW_SCHEMA = pa.schema([("round", pa.int64()), ("metric", pa.string()), ("value", pa.float64())])
"""A cell's ``reflow.parquet``: one row per round and metric."""


def reflow_cell(settings: ReflowSettings, out: str | os.PathLike, checkpoint: str | os.PathLike | None = None) -> None:
    """Round 0 and the ReFlow rounds of one cell; one row per round and metric (``coupling_shift``, its share of
    the mean chord ``relative_shift``, ``straightness``, ``l2_to_ot``, and the round's convergence record
    ``final_loss``, ``loss_change``, ``converged`` as 1 or 0) to ``out``.

    A NaN or inf in any round stops the cell naming it; with ``checkpoint`` (the cell's checkpoint path) a
    failure record goes beside it, so that the report marks the cell as failed.
    """
    gen = torch.Generator().manual_seed(settings.seed)
    d, n, shift = settings.dim, settings.n_pairs, settings.shift
    x_0 = torch.randn(n, d, generator=gen)
    x_1_ot = x_0 + shift
    x_1 = x_1_ot if settings.coupling == "ot" else torch.randn(n, d, generator=gen) + shift

    def make_model() -> MLP:
        return MLP.from_settings(d, settings.model)

    torch.manual_seed(settings.seed)
    with recorded_failure(settings, out, checkpoint):
        rounds = reflow(make_model, x_0, x_1, get(settings.kind).couplings[settings.coupling], x_1_ot,
                        Interpolant(settings.sigma, settings.noise), settings.train.config(), settings.rounds,
                        settings.seed, settings.solver_steps, settings.solver, settings.train.converge_tol,
                        settings.train.loss_target)
    chord = float((x_1 - x_0).norm(dim=1).mean())
    rows = []
    for r in rounds:
        log.info("round %d: %s", r.round, r)
        rows += [{"round": r.round, "metric": k, "value": v} for k, v in
                 (("coupling_shift", r.coupling_shift), ("relative_shift", r.coupling_shift / chord),
                  ("straightness", r.straightness), ("l2_to_ot", r.l2_to_ot),
                  ("final_loss", r.convergence.final_loss), ("loss_change", r.convergence.loss_change),
                  ("converged", float(r.convergence.converged)))]
    write_parquet(pa.Table.from_pylist(rows, schema=REFLOW_SCHEMA), out)


def run_cell(settings: ReflowSettings, inputs: dict[str, str], outputs: dict[str, str],
             checkpoint: str | None = None) -> None:
    """The kind's cell job: :func:`reflow_cell`."""
    reflow_cell(settings, outputs["reflow"], checkpoint=checkpoint)
