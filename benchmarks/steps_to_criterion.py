"""Benchmark: what it costs to bring the N = 2,000 sigma = 0 rotation cell to its convergence criterion.

Issue 15's target cell: Counter Example 1 (config/config.yaml's ``rotation`` experiment, rotated coupling,
sigma = 0, or each sigma of ``--sigma``) with N = ``--n-pairs`` training pairs, trained through the pipeline's own
``train_cell`` for each step budget T of ``--steps``, each time embedding K of ``--features``, each MLP time
conditioning of ``--conditioning`` (rfpipe.models.MLP) and each training-time density of ``--t-centre-scale``
(0: uniform; s > 0: half of each batch from N(1/2, s^2), rfpipe.times); the cosine schedule runs over T, so each
budget is its own run. Each is then evaluated as the pipeline evaluates it. Prints per run: the criterion's
values (rfpipe.convergence: smoothed final loss, its fall over the last fifth, converged), whether the training
sources memorise at the largest solver_steps (L2 to the training partner below L2 to the OT partner), whether
the fresh sources' endpoints stay finite there (``fresh_finite``), and the cost in CPU seconds of the training
process and in reference steps (one training step of benchmarks/gradvar.py's MLP, measured in the same run).
Runs go two at a time (``--jobs``), each on one thread. ``--config`` and ``--experiment`` take the base cell
from another MLP experiment (kind ``rotation`` or ``mog``; its first sigma = 0 cell of a fixed pairing).

    .venv/bin/python benchmarks/steps_to_criterion.py [--steps 10000 20000 40000] [--features 0 16]
        [--config config/config.yaml] [--experiment rotation]
        [--conditioning input scale] [--lr 0.003] [--t-centre-scale 0 0.08] [--sigma 0 0.05] [--n-pairs 2000]
"""

from __future__ import annotations

import argparse
import importlib
import math
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from rfpipe.config import load_config
from rfpipe.models import TIME_CONDITIONINGS
from rfpipe.pipeline import cell_settings, train_cell
from rfpipe.sweep import Sweep
from time_features import reference_step_ms

ROOT = Path(__file__).resolve().parents[1]


def run(wire: dict[str, Any]) -> dict[str, Any]:
    """Train and evaluate one cell of ``wire`` settings in a scratch folder; the criterion, memorisation and cost."""
    torch.set_num_threads(1)
    settings = cell_settings(wire)
    jobs = importlib.import_module(f"rfpipe.kinds.{wire['kind']}.jobs")
    with tempfile.TemporaryDirectory(prefix="rfpipe-criterion-") as tmp:
        folder = Path(tmp)
        jobs.prepare_data(settings.data, folder / "data.pt")
        cpu = time.process_time()
        conv = train_cell(settings, folder / "data.pt", folder / "model.pt", folder / "gradvar.parquet",
                          folder / "convergence.parquet")
        cpu = time.process_time() - cpu
        jobs.evaluate(settings, folder / "data.pt", folder / "model.pt", folder / "metrics.parquet",
                 folder / "trajectories.parquet")
        m = pd.read_parquet(folder / "metrics.parquet")
    last = m[m["solver_steps"] == max(settings.solver_steps)]
    fresh = last[last["split"] == "test"].set_index("metric")["value"]
    m = last[last["split"] == "train"].set_index("metric")["value"]
    return {"time_features": wire["time_features"], "time_conditioning": wire["time_conditioning"],
            "sigma": wire["sigma"], "lr": wire["lr"], "t_centre_scale": wire["t_centre_scale"],
            "steps": wire["steps"],
            "final_loss": conv.final_loss, "loss_change": conv.loss_change, "converged": conv.converged,
            "l2_partner": m["l2_to_training_partner"], "l2_ot": m["l2_to_ot"],
            "memorised": bool(m["l2_to_training_partner"] < m["l2_to_ot"]),
            "fresh_finite": bool(all(math.isfinite(v) for v in fresh)), "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10000, 20000, 40000])
    parser.add_argument("--features", type=int, nargs="+", default=[0, 16])
    parser.add_argument("--conditioning", nargs="+", default=["input"], choices=TIME_CONDITIONINGS)
    parser.add_argument("--lr", type=float, nargs="+", default=[0.003])
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.0])
    parser.add_argument("--t-centre-scale", type=float, nargs="+", default=[0.0])
    parser.add_argument("--n-pairs", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--experiment", default="rotation", help="an experiment of --config of kind rotation or mog")
    args = parser.parse_args()
    experiment = Sweep(load_config(args.config)).experiments[args.experiment]
    base = next(c for c in experiment.cells.values()
                if c.settings["coupling"] != "independent" and c.settings["sigma"] == 0.0).settings
    wires = [{**base, "sigma": sigma, "seed": 0, "n_pairs": args.n_pairs, "steps": steps, "time_features": k,
              "lr": lr,
              "time_conditioning": conditioning, "t_centre_scale": centre,
              "timeline_start": 0, "checkpoint_every": 0}
             for k in args.features for conditioning in args.conditioning for lr in args.lr
             for centre in args.t_centre_scale for sigma in args.sigma for steps in args.steps]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run, wires))
    reference = reference_step_ms()
    frame = pd.DataFrame(rows)
    frame["reference_steps"] = (frame["cpu_s"] * 1e3 / reference).round(-2).astype(int)
    print(f"{args.experiment} cell ({base['kind']}), {base['coupling']} coupling: N={args.n_pairs}, "
          f"width {base['width']}, depth {base['depth']}, batch {base['batch_size']}, {base['lr_schedule']} "
          f"schedule, seed 0; memorised: L2 to the "
          f"training partner < L2 to the OT partner at {max(base['solver_steps'])} Euler steps (training sources); "
          f"criterion: converge_tol {base['converge_tol']}, loss_target {base['loss_target']} per coordinate")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"one training step of benchmarks/gradvar.py's MLP through rfpipe.training.train on this machine: "
          f"{reference:.2f} ms (reference_steps = cpu_s / that; gradvar.py's own plain-Adam figure is about 1.4x)")


if __name__ == "__main__":
    main()
