"""The rotation experiment's jobs: its data, and one cell trained then evaluated (with trajectories)."""

from __future__ import annotations

import logging
import os
from typing import Any

import pyarrow as pa

from rfpipe.data import PairedData, rotation_data
from rfpipe.evaluation import METRICS_SCHEMA, TRAJECTORY_SCHEMA, endpoints, metric_rows, paired_metrics, path_rows
from rfpipe.io import write_parquet
from rfpipe.metrics import target_collapse
from rfpipe.kinds.rotation import RotationData, RotationSettings
from rfpipe.models import MLP
from rfpipe.pipeline import load_model, train_cell

__all__ = ["evaluate", "network", "prepare_data", "run_cell"]

log = logging.getLogger("rfpipe")

def prepare_data(settings: RotationData, data: str | os.PathLike) -> None:
    """Draw the training pairs and fresh test sources of a cell and write them to ``data``."""
    paired = rotation_data(settings.dim, settings.angle, settings.shift, settings.n_pairs, settings.n_test,
                           settings.seed)
    paired.save(data)
    log.info("data: %d training pairs, %d test sources in dim %d -> %s", settings.n_pairs, settings.n_test,
             settings.dim, data)


def network(settings: RotationSettings) -> MLP:
    """v_theta(x, t) = MLP([x, t]) of the cell's width, depth and activation."""
    return MLP.from_settings(settings.data.dim, settings.model)


def evaluate(settings: RotationSettings, data: str | os.PathLike, model: str | os.PathLike,
             metrics: str | os.PathLike, trajectories: str | os.PathLike) -> None:
    """The endpoint metrics of :mod:`rfpipe.evaluation` per split and ``solver_steps`` to ``metrics``, and on the
    test split ``target_collapse`` (:func:`rfpipe.metrics.target_collapse`: fresh endpoints against the training
    targets); the paths of the first ``n_trajectories`` training sources to ``trajectories``."""
    paired = PairedData.load(data)
    net = load_model(settings, model)
    rows: list[dict[str, Any]] = []
    paths: list[dict[str, Any]] = []
    for e in endpoints(net, paired, settings.solver, settings.solver_steps, paths=True):
        values = paired_metrics(e)
        if e.split == "test":
            values["target_collapse"] = target_collapse(e.x_1, paired.train.x_1)
        rows += metric_rows(settings.solver, e, values)
        paths += path_rows(e, settings.n_trajectories)
    write_parquet(pa.Table.from_pylist(rows, schema=METRICS_SCHEMA), metrics)
    write_parquet(pa.Table.from_pylist(paths, schema=TRAJECTORY_SCHEMA), trajectories)


def run_cell(settings: RotationSettings, inputs: dict[str, str], outputs: dict[str, str],
             checkpoint: str | None = None) -> None:
    """Train the cell on ``inputs["data"]``, then evaluate it (the files of the kind's ``cell_outputs``)."""
    train_cell(settings, inputs["data"], outputs["model"], outputs["gradvar"], outputs["convergence"],
               checkpoint=checkpoint, timeline=outputs["timeline"])
    evaluate(settings, inputs["data"], outputs["model"], outputs["metrics"], outputs["trajectories"])
