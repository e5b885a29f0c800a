"""Benchmark: the UNet's time embedding width (``emb_dim``: sinusoidal features of t through a 2-layer MLP, fed to
every residual block) against the images cell's convergence criterion (rfpipe.convergence) and training loss.

Trains the default config's ``images`` cell (config/config.yaml: MNIST stand-in, N = the smallest n_pairs, the
adversarial coupling, its channels, lr and batch) at sigma 0 and 0.05 for each width of --emb-dims, on --seeds,
through the pipeline's own train_cell, for --steps steps, and prints per width and sigma: the final smoothed loss
per coordinate, its fall over the last fifth, how many seeds converged, ms per step, with the machine's
one-training-step time (benchmarks/gradvar.py's MLP) measured in the same run for scale. The default is chosen by
the criterion (convergence, then training loss), not by a claim's outcome.

    .venv/bin/python benchmarks/unet_time_embedding.py [--emb-dims 16 64 128] [--seeds 0] [--steps 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from time_features import reference_step_ms

from rfpipe.config import load_config
from rfpipe.data import PairedData
from rfpipe.images import cache_images
from rfpipe.kinds.images.jobs import prepare_data
from rfpipe.pipeline import cell_settings, train_cell
from rfpipe.sweep import Sweep

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emb-dims", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    experiment = Sweep(load_config(ROOT / "config" / "config.yaml")).experiments["images"]
    n = min(c.settings["n_pairs"] for c in experiment.cells.values())
    base = next(c for c in experiment.cells.values() if c.settings["n_pairs"] == n).settings
    rows = []
    with tempfile.TemporaryDirectory(prefix="rfpipe-unet-embedding-") as tmp:
        images = Path(tmp) / "images.pt"
        cache_images(base["dataset"], base["resolution"], base["data_dir"], base["n_pairs"] + base["n_test"], images)
        for emb_dim in args.emb_dims:
            for sigma in (0.0, 0.05):
                for seed in args.seeds:
                    wire = {**base, "sigma": sigma, "seed": seed, "emb_dim": emb_dim, "steps": args.steps,
                            "timeline_start": 0}
                    settings = cell_settings(wire)
                    folder = Path(tmp) / f"e{emb_dim}-s{sigma}-{seed}"
                    folder.mkdir()
                    prepare_data(settings.data, folder / "data.pt", images)
                    start = time.perf_counter()
                    conv = train_cell(settings, folder / "data.pt", folder / "model.pt", folder / "gradvar.parquet",
                                      folder / "convergence.parquet")
                    dim = PairedData.load(folder / "data.pt").train.x_0[0].numel()
                    rows.append({"emb_dim": emb_dim, "sigma": sigma, "seed": seed,
                                 "loss_per_coordinate": conv.final_loss / dim,
                                 "loss_change": conv.loss_change, "converged": conv.converged,
                                 "ms_per_step": (time.perf_counter() - start) / args.steps * 1e3})
    table = pd.DataFrame(rows).groupby(["emb_dim", "sigma"]).agg(
        loss_per_coordinate=("loss_per_coordinate", "mean"), loss_change=("loss_change", "mean"),
        converged=("converged", "sum"), seeds=("seed", "count"), ms_per_step=("ms_per_step", "median")).reset_index()
    print(f"images cell: {base['dataset']} {base['resolution']}x{base['resolution']}, N={n}, {base['coupling']}, "
          f"channels {base['channels']} x {base['channel_mults']}, batch {base['batch_size']}, lr {base['lr']} "
          f"{base['lr_schedule']}, {args.steps} steps; the final smoothed loss per coordinate (loss_target's unit)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"one training step of benchmarks/gradvar.py's MLP on this machine: {reference_step_ms():.2f} ms")


if __name__ == "__main__":
    main()
