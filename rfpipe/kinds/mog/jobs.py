"""The mixture experiment's jobs: its data, and one cell trained then evaluated (with the two MMDs)."""

from __future__ import annotations

import logging
import os
from typing import Any

import pyarrow as pa

from rfpipe.data import PairedData, mixture_data
from rfpipe.evaluation import METRICS_SCHEMA, TRAJECTORY_SCHEMA, endpoints, metric_rows, paired_metrics, path_rows
from rfpipe.io import write_parquet
from rfpipe.metrics import target_collapse
from rfpipe.kinds.mog import MixtureData, MixtureSettings
from rfpipe.mmd import mmd, mmd2_biased
from rfpipe.models import MLP
from rfpipe.pipeline import load_model, train_cell

__all__ = ["evaluate", "network", "prepare_data", "run_cell"]

log = logging.getLogger("rfpipe")


def prepare_data(settings: MixtureData, data: str | os.PathLike) -> None:
    """Draw the training pairs and fresh test sources and targets of a cell and write them to ``data``."""
    paired = mixture_data(settings.dim, settings.n_components, settings.radius, settings.component_scale,
                          settings.n_pairs, settings.n_test, settings.seed)
    paired.save(data)
    log.info("data: %d training pairs, %d test sources in dim %d -> %s", settings.n_pairs, settings.n_test,
             settings.dim, data)


def network(settings: MixtureSettings) -> MLP:
    """v_theta(x, t) = MLP([x, t]) of the cell's width, depth and activation."""
    return MLP.from_settings(settings.data.dim, settings.model)


def evaluate(settings: MixtureSettings, data: str | os.PathLike, model: str | os.PathLike,
             metrics: str | os.PathLike, trajectories: str | os.PathLike) -> None:
    """Per ``solver_steps``: on the training split the endpoint metrics of :mod:`rfpipe.evaluation` and
    ``memorisation_mmd`` (endpoints against the training targets), the unbiased MMD_u^2 of :func:`rfpipe.mmd.mmd`,
    and ``memorisation_mmd_biased``, the V-statistic MMD_b^2 with the same bandwidths (:func:`rfpipe.mmd.mmd2_biased`:
    0 exactly when the endpoints reproduce their targets, where MMD_u^2 sits at its floor -2(1 - kbar)/n whether
    or not they do); on the test split ``generalisation_mmd`` (fresh sources' endpoints against fresh target
    samples: they are unpaired), MMD_u^2, and ``target_collapse`` (:func:`rfpipe.metrics.target_collapse`: those
    endpoints against the training targets). The paths of the first ``n_trajectories`` training sources go to
    ``trajectories``."""
    paired = PairedData.load(data)
    net = load_model(settings, model)
    rows: list[dict[str, Any]] = []
    paths: list[dict[str, Any]] = []
    for e in endpoints(net, paired, settings.solver, settings.solver_steps, paths=True):
        if e.split == "test":
            values = {"generalisation_mmd": mmd(e.x_1, e.pairs.x_1).mmd2,
                      "target_collapse": target_collapse(e.x_1, paired.train.x_1)}
        else:
            memorisation = mmd(e.x_1, e.pairs.x_1)
            values = {**paired_metrics(e), "memorisation_mmd": memorisation.mmd2,
                      "memorisation_mmd_biased": mmd2_biased(e.x_1, e.pairs.x_1, memorisation.bandwidths)}
        rows += metric_rows(settings.solver, e, values)
        paths += path_rows(e, settings.n_trajectories)
    write_parquet(pa.Table.from_pylist(rows, schema=METRICS_SCHEMA), metrics)
    write_parquet(pa.Table.from_pylist(paths, schema=TRAJECTORY_SCHEMA), trajectories)


def run_cell(settings: MixtureSettings, inputs: dict[str, str], outputs: dict[str, str],
             checkpoint: str | None = None) -> None:
    """Train the cell on ``inputs["data"]``, then evaluate it."""
    train_cell(settings, inputs["data"], outputs["model"], outputs["gradvar"], outputs["convergence"],
               checkpoint=checkpoint, timeline=outputs["timeline"])
    evaluate(settings, inputs["data"], outputs["model"], outputs["metrics"], outputs["trajectories"])
