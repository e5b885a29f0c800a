"""Benchmark: the paper-scale grid: reading a 1,000-cell sweep's Parquet, and planning config/paper.yaml.

1. Writes a synthetic sweep of ``--cells`` cells (default 1,000) into a temporary folder, with the real layout:
   the ``rotation_map`` experiment of config/paper.yaml with its grid widened to 4 sigma x 2 couplings x 5 seeds
   x 5 n_pairs x 5 steps, one hive folder per cell
   (``cells/n_pairs=16/steps=5000/coupling=rotated/sigma=0.05/seed=0/``) holding ``metrics.parquet``
   (``rfpipe.pipeline.METRICS_SCHEMA``: 4 solver_steps x 2 splits x 4 metrics = 32 rows) and ``gradvar.parquet``
   (``GRADVAR_SCHEMA``: a whole-batch row and 10 t-bin rows per probe, a probe every ``probe_every`` = 500 steps
   from 0 to ``steps``: 121 to 1,111 rows), written by ``rfpipe.io.write_parquet`` as the pipeline does.
   Then times reading all of it through the reports' reader, ``rfpipe.reporting.common.read_cells``
   (metrics + gradvar, the median of ``--repeat`` reads). Goal: <= 10 s for 1,000 cells.
2. Times the integrity scan every workflow start runs over those files (``rfpipe.integrity.damaged_outputs``):
   the first start reads every file back whole, later ones only stat the files recorded as verified.
3. Times ``snakemake -n --configfile config/paper.yaml`` (the dry run that plans every job of the paper grid),
   from the repository root, the median of ``--repeat`` runs. Goal: <= 10 s.

Run:  .venv/bin/python benchmarks/aggregate.py [--cells 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import yaml

from rfpipe.config import validate_config
from rfpipe.evaluation import METRICS_SCHEMA
from rfpipe.integrity import damaged_outputs
from rfpipe.io import write_parquet
from rfpipe.pipeline import GRADVAR_SCHEMA
from rfpipe.reporting.common import read_cells
from rfpipe.sweep import Experiment, Sweep

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("l2_to_training_partner", "l2_to_ot", "pair_recovery", "closer_to_partner")


def synthetic_experiment(cells: int) -> Experiment:
    """``rotation_map`` of config/paper.yaml, its grid widened (then cut) to ``cells`` cells."""
    exp = dict(yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())["experiments"]["rotation_map"])
    exp["grid"] = {"sigma": [0.0, 0.01, 0.05, 0.1], "coupling": ["rotated", "independent"], "seed": [0, 1, 2, 3, 4],
                   "n_pairs": [16, 64, 256, 1024, 2048], "steps": [5000, 10000, 20000, 35000, 50000]}
    config = validate_config({"results_dir": "unused", "experiments": {"rotation_map": exp}})
    experiment = Sweep(config).experiments["rotation_map"]
    if cells > len(experiment.cells):
        raise SystemExit(f"at most {len(experiment.cells)} cells")
    experiment.cells = dict(list(experiment.cells.items())[:cells])
    return experiment


def write_sweep(experiment: Experiment, cells_dir: Path) -> tuple[int, int]:
    """Write every cell's metrics.parquet and gradvar.parquet; return the total row counts."""
    rng = np.random.default_rng(0)
    n_metrics = n_gradvar = 0
    for cell in experiment.cells.values():
        st = cell.settings
        folder = cells_dir / cell.path
        folder.mkdir(parents=True, exist_ok=True)
        rows = [{"solver": st["solver"], "solver_steps": k, "split": split, "metric": m, "value": float(rng.random())}
                for k in st["solver_steps"] for split in ("train", "test") for m in METRICS]
        write_parquet(pa.Table.from_pylist(rows, schema=METRICS_SCHEMA), folder / "metrics.parquet")
        n_metrics += len(rows)
        bins = st["t_bins"]
        probes = range(0, st["steps"] + 1, st["probe_every"])
        t_bin = [None, *range(bins)] * len(probes)
        n = len(t_bin)
        columns = {
            "step": np.repeat(np.asarray(probes, dtype=np.int64), bins + 1),
            "t_bin": pa.array(t_bin, type=pa.int32()),
            "t_low": [0.0 if b is None else b / bins for b in t_bin],
            "t_high": [1.0 if b is None else (b + 1) / bins for b in t_bin],
            "n": [st["probe_size"] if b is None else st["probe_size"] // bins for b in t_bin],
            "loss": rng.random(n), "grad_var_trace": rng.random(n), "grad_mean_sqnorm": rng.random(n),
            "grad_var_ratio": rng.random(n),
        }
        write_parquet(pa.table(columns, schema=GRADVAR_SCHEMA), folder / "gradvar.parquet")
        n_gradvar += n
    return n_metrics, n_gradvar


def time_read(experiment: Experiment, cells_dir: Path, repeat: int) -> tuple[float, float, int, int]:
    """Median seconds to read metrics and gradvar of every cell (and each alone), and the row counts."""
    both, alone_m, rows = [], [], (0, 0)
    for _ in range(repeat):
        start = time.perf_counter()
        metrics = read_cells(experiment, cells_dir, "metrics.parquet")
        mid = time.perf_counter()
        gradvar = read_cells(experiment, cells_dir, "gradvar.parquet")
        both.append(time.perf_counter() - start)
        alone_m.append(mid - start)
        rows = (len(metrics), len(gradvar))
    return statistics.median(both), statistics.median(alone_m), *rows


def time_scan(experiment_dir: Path, repeat: int) -> tuple[float, float]:
    """Seconds of the workflow's start-up integrity scan: the first (every file read whole, then recorded), and
    the median of ``repeat`` later ones (unchanged files only stat'ed)."""
    start = time.perf_counter()
    assert damaged_outputs([experiment_dir], remember=True) == []
    first = time.perf_counter() - start
    later = []
    for _ in range(repeat):
        start = time.perf_counter()
        assert damaged_outputs([experiment_dir], remember=True) == []
        later.append(time.perf_counter() - start)
    return first, statistics.median(later)


def time_dry_run(repeat: int) -> tuple[float, int]:
    """Median seconds of ``snakemake -n --configfile config/paper.yaml`` and the number of jobs it plans."""
    exe = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    times, jobs = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run([exe, "-n", "--configfile", "config/paper.yaml"], cwd=ROOT,
                             capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if out.returncode != 0:
            raise SystemExit(f"snakemake -n failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        found = re.search(r"^total\s+(\d+)", out.stdout + out.stderr, flags=re.M)
        jobs = int(found.group(1)) if found else 0
    return statistics.median(times), jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-snakemake", action="store_true", help="only the Parquet read")
    args = parser.parse_args()

    experiment = synthetic_experiment(args.cells)
    tmp = Path(tempfile.mkdtemp(prefix="rfpipe-aggregate-"))
    try:
        cells_dir = tmp / "rotation_map" / "cells"
        start = time.perf_counter()
        n_metrics, n_gradvar = write_sweep(experiment, cells_dir)
        t_write = time.perf_counter() - start
        t_read, t_metrics, r_metrics, r_gradvar = time_read(experiment, cells_dir, args.repeat)
        assert (r_metrics, r_gradvar) == (n_metrics, n_gradvar), "the reader lost rows"
        t_scan_first, t_scan_next = time_scan(cells_dir.parent, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'step':62s} {'s':>7s} {'goal s':>7s}")
    print(f"{f'write the synthetic sweep ({len(experiment.cells)} cells x 2 files)':62s} {t_write:7.2f} {'':>7s}")
    print(f"{f'read_cells metrics.parquet ({r_metrics} rows)':62s} {t_metrics:7.2f} {'':>7s}")
    print(f"{f'read_cells metrics + gradvar ({r_metrics + r_gradvar} rows)':62s} {t_read:7.2f} {10:7.0f}")
    files = 2 * len(experiment.cells)
    print(f"{f'start-up integrity scan, first start ({files} files read whole)':62s} {t_scan_first:7.2f} {'':>7s}")
    print(f"{f'start-up integrity scan, next starts ({files} files verified)':62s} {t_scan_next:7.2f} {'':>7s}")
    if not args.skip_snakemake:
        t_dry, jobs = time_dry_run(args.repeat)
        print(f"{f'snakemake -n --configfile config/paper.yaml ({jobs} jobs)':62s} {t_dry:7.2f} {10:7.0f}")
    print(f"median of {args.repeat} runs each; goal read <= 10 s: {'met' if t_read <= 10 else 'NOT met'}"
          + ("" if args.skip_snakemake else f"; goal dry run <= 10 s: {'met' if t_dry <= 10 else 'NOT met'}"))


if __name__ == "__main__":
    main()
