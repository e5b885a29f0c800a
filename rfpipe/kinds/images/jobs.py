"""The image experiments' jobs: a cell's noise/OT pairing, and one cell trained then evaluated."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import pyarrow as pa
import torch

from rfpipe.data import PairedData, Pairs
from rfpipe.evaluation import METRICS_SCHEMA, endpoints, metric_rows
from rfpipe.io import load_tensors, save_tensors, write_parquet
from rfpipe.kinds.images import ImagesData, ImagesSettings
from rfpipe.metrics import pair_recovery, target_collapse
from rfpipe.ot import ot_assignment
from rfpipe.pipeline import EVAL_CHUNK, cell_device, load_model, train_cell
from rfpipe.unet import UNet

__all__ = ["SAMPLE_SCHEMA", "evaluate", "network", "prepare_data", "run_cell"]

log = logging.getLogger("rfpipe")

SAMPLE_SCHEMA = pa.schema([
    ("solver_steps", pa.int64()), ("split", pa.string()), ("sample", pa.int64()),
    ("l2_to_training_partner", pa.float64()), ("l2_to_ot", pa.float64()),
])
"""A cell's ``samples.parquet``: per step count, split and sample, the L2 distances to both partners."""


def prepare_data(settings: ImagesData, data: str | os.PathLike, images: str | os.PathLike,
                 teacher_pairs: str | os.PathLike | None = None) -> None:
    """Training pairs of a cell: N noise images x_0 ~ N(0, I) matched by OT to the first N images of ``images``.

    x_1_ot is the OT partner of x_0 (:func:`rfpipe.ot.ot_assignment`). The training partner x_1 is, by coupling:
    ``ot`` and ``independent`` x_1_ot (the sampler re-pairs ``independent`` at every step), ``adversarial``
    x_1_ot with the targets shuffled by a seeded permutation, ``reflow`` the endpoints phi(x_0) of the teacher
    flow (``teacher_pairs``); x_1_ot is always the OT partner among the real images (the OT assignment of the
    sources to their own flow endpoints would be the identity, the training partner itself). The test split:
    ``n_test`` fresh noise images matched by OT to the next ``n_test`` (held-out) images.
    """
    n, n_test, seed = settings.n_pairs, settings.n_test, settings.seed
    pool = load_tensors(images)["images"]
    shape = tuple(pool.shape[1:])
    gen = torch.Generator().manual_seed(seed)
    x_0 = torch.randn((n, *shape), generator=gen)
    perm = torch.randperm(n, generator=gen)
    start = time.perf_counter()

    def match(sources: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return targets[ot_assignment(sources, targets, settings.ot_exact_max, settings.ot_block)]

    x_1_ot = match(x_0, pool[:n])
    coupling = settings.coupling
    x_1 = x_1_ot[perm] if coupling == "adversarial" else x_1_ot
    if coupling == "reflow":
        if teacher_pairs is None:
            raise ValueError("coupling 'reflow' needs the teacher's pairs (teacher_pairs)")
        pairs = load_tensors(teacher_pairs)
        if not torch.equal(pairs["x_0"], x_0):
            raise ValueError(f"{teacher_pairs}: the teacher's sources are not this cell's noise images")
        x_1 = pairs["x_1"]  # x_1_ot stays the ground-truth OT partner among the real images, as in Table 2
    test_gen = torch.Generator().manual_seed(seed + 7_919)
    t_0 = torch.randn((n_test, *shape), generator=test_gen)
    t_1 = match(t_0, pool[n:n + n_test])
    PairedData(Pairs(x_0, x_1, x_1_ot), Pairs(t_0, t_1, t_1)).save(data)
    log.info("images data: %d pairs (%s), %d test sources, OT in %.1f s -> %s", n, coupling, n_test,
             time.perf_counter() - start, data)


def network(settings: ImagesSettings) -> UNet:
    """The UNet of the cell (3 channels for celeba, else 1)."""
    channels = 3 if settings.data.dataset == "celeba" else 1
    m = settings.model
    return UNet(channels, m.channels, tuple(m.channel_mults), m.emb_dim)


def evaluate(settings: ImagesSettings, data: str | os.PathLike, model: str | os.PathLike,
             metrics: str | os.PathLike, samples: str | os.PathLike, grid: str | os.PathLike) -> None:
    """Integrate the learned flow from the training sources (and the test sources) at each ``solver_steps``.

    Per sample (``samples``): Euclidean L2 over all pixels from the endpoint to the training partner and to the
    OT partner. Per split (``metrics``, long format): their means and standard deviations over samples; for
    the training split also ``pair_recovery`` and ``closer_to_partner``, for the test split ``target_collapse``
    (:func:`rfpipe.metrics.target_collapse`: the fresh endpoints against the training images). ``grid`` keeps the
    first ``n_grid`` training sources, both partners and the endpoints at the largest step count, for the
    image-grid figure.
    """
    paired = PairedData.load(data)
    net = load_model(settings, model)
    rows: list[dict[str, Any]] = []
    per_sample: list[dict[str, Any]] = []
    keep = min(settings.n_grid, paired.train.x_0.shape[0])
    shown: dict[str, torch.Tensor] = {}
    for e in endpoints(net, paired, settings.solver, settings.solver_steps, device=cell_device(settings),
                       chunk=EVAL_CHUNK):
        values = {"l2_to_training_partner": float(e.d_partner.mean()), "l2_to_ot": float(e.d_ot.mean()),
                  "l2_to_training_partner_std": float(e.d_partner.std()), "l2_to_ot_std": float(e.d_ot.std())}
        if e.split == "train":
            values["pair_recovery"] = pair_recovery(e.x_1, e.pairs.x_1)
            values["closer_to_partner"] = float((e.d_partner < e.d_ot).double().mean())
        else:
            values["target_collapse"] = target_collapse(e.x_1, paired.train.x_1)
            if e.solver_steps == max(settings.solver_steps):
                shown = {"x_0": e.pairs.x_0[:keep], "x_1": e.pairs.x_1[:keep], "x_1_ot": e.pairs.x_1_ot[:keep],
                         "output": e.x_1[:keep]}
        rows += metric_rows(settings.solver, e, values)
        per_sample += [{"solver_steps": e.solver_steps, "split": e.split, "sample": i,
                        "l2_to_training_partner": float(a), "l2_to_ot": float(b)}
                       for i, (a, b) in enumerate(zip(e.d_partner, e.d_ot))]
    write_parquet(pa.Table.from_pylist(rows, schema=METRICS_SCHEMA), metrics)
    write_parquet(pa.Table.from_pylist(per_sample, schema=SAMPLE_SCHEMA), samples)
    save_tensors(shown, grid)


def run_cell(settings: ImagesSettings, inputs: dict[str, str], outputs: dict[str, str],
             checkpoint: str | None = None) -> None:
    """Train the cell on ``inputs["data"]``, then evaluate it."""
    train_cell(settings, inputs["data"], outputs["model"], outputs["gradvar"], outputs["convergence"],
               checkpoint=checkpoint, timeline=outputs["timeline"])
    evaluate(settings, inputs["data"], outputs["model"], outputs["metrics"], outputs["samples"], outputs["grid"])
