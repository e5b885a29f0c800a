"""Benchmark: does an MLP time embedding (Fourier features of t, ``time_features``) bring the rotation cell to its
convergence criterion (rfpipe.convergence), and at what cost per step?

Trains the default config's ``rotation`` cell (config/config.yaml: N, width, depth, steps, lr, schedule) at sigma 0
and 0.05 for each K in --features, on --seeds, through the pipeline's own train_cell and evaluation, and prints per
K and sigma: the final smoothed loss, its fall over the last fifth, how many seeds converged, the endpoints' L2 to
the training partner and to the OT partner at the largest solver_steps (training sources), and ms per step, with
the machine's one-training-step time (benchmarks/gradvar.py's MLP) measured in the same run for scale. The
default is chosen by the criterion (convergence, then training loss), not by the C4 outcome.

    .venv/bin/python benchmarks/time_features.py [--features 0 8 16] [--seeds 0 1] [--steps N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from rfpipe.config import load_config
from rfpipe.kinds.rotation.jobs import evaluate, prepare_data
from rfpipe.pipeline import cell_settings, train_cell
from rfpipe.sweep import Sweep

ROOT = Path(__file__).resolve().parents[1]


def reference_step_ms() -> float:
    """One training step of benchmarks/gradvar.py's width-256 MLP (batch 256, one thread), median of 3 x 200."""
    from rfpipe.couplings import PairSampler
    from rfpipe.data import rotation_data
    from rfpipe.interpolants import Interpolant
    from rfpipe.models import MLP
    from rfpipe.training import TrainConfig, train

    paired = rotation_data(2, 180.0, 5.0, 2000, 16, 0)
    times = []
    for _ in range(3):
        torch.manual_seed(0)
        net = MLP(2, 256, 3)
        start = time.perf_counter()
        train(net, PairSampler(paired.train.x_0, paired.train.x_1, "paired"), Interpolant(0.0),
              TrainConfig(steps=200, batch_size=256, lr=1e-3, probe_every=0), seed=0)
        times.append((time.perf_counter() - start) / 200 * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=int, nargs="+", default=[0, 8, 16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=None, help="override the config's steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    experiment = Sweep(load_config(ROOT / "config" / "config.yaml")).experiments["rotation"]
    base = next(c for c in experiment.cells.values() if c.settings["coupling"] == "rotated").settings
    rows = []
    with tempfile.TemporaryDirectory(prefix="rfpipe-time-features-") as tmp:
        for k in args.features:
            for sigma in (0.0, 0.05):
                for seed in args.seeds:
                    wire = {**base, "sigma": sigma, "seed": seed, "time_features": k, "timeline_start": 0}
                    if args.steps:
                        wire["steps"] = args.steps
                    settings = cell_settings(wire)
                    folder = Path(tmp) / f"k{k}-s{sigma}-{seed}"
                    folder.mkdir()
                    prepare_data(settings.data, folder / "data.pt")
                    start = time.perf_counter()
                    conv = train_cell(settings, folder / "data.pt", folder / "model.pt", folder / "gradvar.parquet",
                                      folder / "convergence.parquet")
                    ms = (time.perf_counter() - start) / settings.train.steps * 1e3
                    evaluate(settings, folder / "data.pt", folder / "model.pt", folder / "metrics.parquet",
                             folder / "trajectories.parquet")
                    m = pd.read_parquet(folder / "metrics.parquet")
                    m = m[(m["split"] == "train") & (m["solver_steps"] == max(settings.solver_steps))]
                    value = m.set_index("metric")["value"]
                    rows.append({"time_features": k, "sigma": sigma, "seed": seed, "final_loss": conv.final_loss,
                                 "loss_change": conv.loss_change, "converged": conv.converged, "ms_per_step": ms,
                                 "l2_to_training_partner": value["l2_to_training_partner"],
                                 "l2_to_ot": value["l2_to_ot"]})
    frame = pd.DataFrame(rows)
    table = frame.groupby(["time_features", "sigma"]).agg(
        final_loss=("final_loss", "mean"), loss_change=("loss_change", "mean"), converged=("converged", "sum"),
        seeds=("seed", "count"), l2_partner=("l2_to_training_partner", "mean"), l2_ot=("l2_to_ot", "mean"),
        ms_per_step=("ms_per_step", "median")).reset_index()
    print(f"rotation cell: N={base['n_pairs']}, width {base['width']}, depth {base['depth']}, "
          f"{args.steps or base['steps']} steps, lr {base['lr']} {base['lr_schedule']}, "
          f"L2 at {max(base['solver_steps'])} Euler steps (training sources)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"one training step of benchmarks/gradvar.py's MLP on this machine: {reference_step_ms():.2f} ms")


if __name__ == "__main__":
    main()
