"""Evaluation of a trained flow: integrate it from the training and test sources, compare with both partners.

For every solver step count n and split (``train``: the N training sources; ``test``: fresh ones), the ODE
dx/dt = v_theta(x, t) is integrated from x_0 to x_hat_1 = phi(x_0) (:func:`rfpipe.sampling.integrate`), and the
endpoint is compared with the training-coupling partner x_1 and the OT partner x_1_ot:

    l2_to_training_partner = mean_i ||x_hat_1,i - x_1,i||,   l2_to_ot = mean_i ||x_hat_1,i - x_1_ot,i||,
    closer_to_partner = mean_i 1[||x_hat_1,i - x_1,i|| < ||x_hat_1,i - x_1_ot,i||],
    pair_recovery = share of i whose nearest training target is x_1,i (:func:`rfpipe.metrics.pair_recovery`).

Each kind picks what it records of each :class:`Endpoints` (its ``jobs`` module); the rows are written in the
long format of :data:`METRICS_SCHEMA`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import torch
from torch import Tensor, nn

from rfpipe.data import PairedData, Pairs
from rfpipe.metrics import l2, pair_recovery
from rfpipe.sampling import integrate

__all__ = ["METRICS_SCHEMA", "SPLITS", "TIMELINE_SCHEMA", "TRAJECTORY_SCHEMA", "Endpoints", "endpoints",
           "metric_rows", "paired_metrics", "path_rows", "snapshot_steps", "timeline_rows"]

log = logging.getLogger("rfpipe")

SPLITS = ("train", "test")

METRICS_SCHEMA = pa.schema([
    ("solver", pa.string()), ("solver_steps", pa.int64()), ("split", pa.string()), ("metric", pa.string()),
    ("value", pa.float64()),
])
"""A cell's ``metrics.parquet``: one row per solver, step count, split and metric."""

TIMELINE_SCHEMA = pa.schema([
    ("step", pa.int64()), ("solver_steps", pa.int64()), ("split", pa.string()), ("metric", pa.string()),
    ("value", pa.float64()),
])
"""A cell's ``timeline.parquet``: the endpoint metrics of the training sources after ``step`` updates."""

TRAJECTORY_SCHEMA = pa.schema([
    ("solver_steps", pa.int64()), ("sample", pa.int64()), ("t", pa.float64()),
    ("x_t_0", pa.float64()), ("x_t_1", pa.float64()),
    ("x_1_0", pa.float64()), ("x_1_1", pa.float64()), ("x_1_ot_0", pa.float64()), ("x_1_ot_1", pa.float64()),
])
"""A cell's ``trajectories.parquet``: the first two coordinates of the ODE paths and of both partners."""


@dataclass(frozen=True)
class Endpoints:
    """The flow's endpoints x_hat_1 of one split at one step count, with the sources' partners.

    Attributes:
        solver_steps: the step count n.
        split: ``train`` or ``test``.
        pairs: the split's sources and partners.
        x_1: the endpoints (on the CPU).
        d_partner: ||x_hat_1 - x_1|| per sample.
        d_ot: ||x_hat_1 - x_1_ot|| per sample.
        path: states at every grid time, (n + 1, B, *D), if asked for (training split only).
        t: the grid times, if ``path``.
    """

    solver_steps: int
    split: str
    pairs: Pairs
    x_1: Tensor
    d_partner: Tensor
    d_ot: Tensor
    path: Tensor | None = None
    t: Tensor | None = None


def endpoints(net: nn.Module, paired: PairedData, solver: str, solver_steps: Sequence[int], *,
              device: torch.device | None = None, chunk: int | None = None, paths: bool = False,
              splits: Sequence[str] = SPLITS, quiet: bool = False) -> Iterator[Endpoints]:
    """Integrate ``net`` from ``splits`` (both by default) at each of ``solver_steps`` (on ``device``, at most
    ``chunk`` samples at a time); with ``paths``, keep the training split's paths."""
    for steps in solver_steps:
        for split in splits:
            pairs = getattr(paired, split)
            x_0 = pairs.x_0 if device is None else pairs.x_0.to(device)
            traj = integrate(net, x_0, steps, solver, return_path=paths and split == "train", chunk=chunk)
            x_1 = traj.x_1 if device is None else traj.x_1.cpu()
            yield Endpoints(steps, split, pairs, x_1, l2(x_1, pairs.x_1), l2(x_1, pairs.x_1_ot), traj.path, traj.t)
        if not quiet:
            log.info("evaluated with %s, %d steps", solver, steps)


def paired_metrics(e: Endpoints) -> dict[str, float]:
    """The four endpoint metrics of the module docstring."""
    return {"l2_to_training_partner": float(e.d_partner.mean()), "l2_to_ot": float(e.d_ot.mean()),
            "pair_recovery": pair_recovery(e.x_1, e.pairs.x_1),
            "closer_to_partner": float((e.d_partner < e.d_ot).double().mean())}


def metric_rows(solver: str, e: Endpoints, values: Mapping[str, float]) -> list[dict[str, Any]]:
    """Rows of :data:`METRICS_SCHEMA` for ``values`` of the endpoints ``e``."""
    return [{"solver": solver, "solver_steps": e.solver_steps, "split": e.split, "metric": k, "value": v}
            for k, v in values.items()]


def path_rows(e: Endpoints, n_trajectories: int) -> list[dict[str, Any]]:
    """Rows of :data:`TRAJECTORY_SCHEMA` for the first ``n_trajectories`` paths of ``e`` (none without paths)."""
    if e.path is None or e.t is None:
        return []
    rows = []
    for i in range(min(n_trajectories, e.pairs.x_0.shape[0])):
        for k in range(e.solver_steps + 1):
            x_t = e.path[k, i]
            rows.append({"solver_steps": e.solver_steps, "sample": i, "t": float(e.t[k]),
                         "x_t_0": float(x_t[0]), "x_t_1": float(x_t[1]),
                         "x_1_0": float(e.pairs.x_1[i, 0]), "x_1_1": float(e.pairs.x_1[i, 1]),
                         "x_1_ot_0": float(e.pairs.x_1_ot[i, 0]), "x_1_ot_1": float(e.pairs.x_1_ot[i, 1])})
    return rows


def snapshot_steps(steps: int, start: int) -> list[int]:
    """The training steps of the memorisation timeline: start, 2 start, 4 start, ... below ``steps``, and
    ``steps`` itself (none if ``start`` is 0)."""
    if start <= 0:
        return []
    out, k = [], start
    while k < steps:
        out.append(k)
        k *= 2
    return [*out, steps]


def timeline_rows(net: nn.Module, paired: PairedData, solver: str, solver_steps: Sequence[int], step: int,
                  device: torch.device | None = None) -> list[dict[str, Any]]:
    """Rows of :data:`TIMELINE_SCHEMA`: the four endpoint metrics of the training sources after ``step`` updates,
    at each of ``solver_steps``."""
    rows = []
    for e in endpoints(net, paired, solver, solver_steps, device=device, splits=("train",), quiet=True):
        rows += [{"step": step, **r} for r in metric_rows(solver, e, paired_metrics(e))]
    for r in rows:
        del r["solver"]
    return rows
