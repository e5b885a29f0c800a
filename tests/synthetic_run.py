"""A results folder of four experiments (rotation, mog, gaussian_variance, reflow) whose tables are made the way
each kind's report makes them (the real verdict functions and ``summarise`` on small synthetic metrics, written
as CSV), and the paper table read back from it: no training. The ``paper_run`` fixture of conftest.py builds it
once for the paper-table tests (tests/test_paper_table.py) and the kinds' paper-row tests (tests/kinds/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rfpipe.kinds.gaussian_variance.report import gaussian_verdicts
from rfpipe.kinds.mog.report import c5_verdicts
from rfpipe.kinds.reflow.report import c8_verdicts
from rfpipe.kinds.rotation.report import c4_verdicts
from rfpipe.reporting.common import summarise
from rfpipe.reporting.paper import paper_table
from rfpipe.sweep import Experiment

__all__ = ["SEEDS", "SIGMA_V", "build", "experiment", "read_table", "write_table"]

SIGMA_V = 0.05
SEEDS = [0, 1, 2]


def experiment(name: str, kind: str, axes: tuple[str, ...], **settings) -> Experiment:
    return Experiment(name, kind, dict(settings), axes, {})


def write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _rotation(root: Path) -> Experiment:
    """Setting axis n_pairs (16, 256) x solver_steps (11, 31); sigma = 0 near the training partner only at
    n_pairs = 16."""
    exp = experiment("rot", "rotation", ("n_pairs", "coupling", "sigma", "seed"), verdict_sigma=SIGMA_V)
    rng = np.random.default_rng(0)
    rows = []
    for n in (16, 256):
        for steps in (11, 31):
            for sigma in (0.0, SIGMA_V):
                for seed in SEEDS:
                    near = sigma == 0.0 and n == 16
                    for split in ("train", "test"):
                        values = {"l2_to_training_partner": (0.3 if near else 2.0) + 0.05 * rng.random(),
                                  "l2_to_ot": (2.0 if near else 0.5) + 0.05 * rng.random(),
                                  "pair_recovery": 0.5 * rng.random(), "closer_to_partner": rng.random()}
                        for metric, value in values.items():
                            rows.append({"n_pairs": n, "coupling": "rotated", "sigma": sigma, "seed": seed,
                                         "solver_steps": steps, "split": split, "metric": metric, "value": value})
    metrics = pd.DataFrame(rows)
    tables = root / exp.name / "tables"
    write_table(summarise(metrics, ["n_pairs", "solver_steps", "split", "metric", "coupling", "sigma"]),
           tables / "summary.csv")
    write_table(c4_verdicts(metrics, ["n_pairs"], SIGMA_V), tables / "verdicts.csv")
    return exp


def _mog(root: Path) -> Experiment:
    """dim = 3 as a fixed setting (the paper's d = 3 row)."""
    exp = experiment("mixture", "mog", ("coupling", "sigma", "seed"), verdict_sigma=SIGMA_V, alpha=0.05, dim=3)
    rng = np.random.default_rng(1)
    rows = []
    for sigma in (0.0, SIGMA_V):
        for seed in SEEDS:
            rows.append({"coupling": "paired", "sigma": sigma, "seed": seed, "solver_steps": 101, "split": "train",
                         "metric": "memorisation_mmd", "value": (0.001 if sigma == 0 else 0.01) + 1e-4 * rng.random()})
            rows.append({"coupling": "paired", "sigma": sigma, "seed": seed, "solver_steps": 101, "split": "train",
                         "metric": "memorisation_mmd_biased",
                         "value": (0.0001 if sigma == 0 else 0.01) + 1e-5 * rng.random()})
            rows.append({"coupling": "paired", "sigma": sigma, "seed": seed, "solver_steps": 101, "split": "test",
                         "metric": "generalisation_mmd",
                         "value": (0.02 if sigma == 0 else 0.005) + 1e-4 * rng.random()})
    metrics = pd.DataFrame(rows)
    tables = root / exp.name / "tables"
    write_table(summarise(metrics, ["solver_steps", "split", "metric", "coupling", "sigma"]), tables / "summary.csv")
    write_table(c5_verdicts(metrics, [], SIGMA_V, 0.05, 3), tables / "verdicts.csv")
    return exp


def _gaussian(root: Path) -> Experiment:
    exp = experiment("gauss", "gaussian_variance", ("dim", "field", "coupling", "sigma", "seed"), zero_tol=1e-12,
                      alpha=0.05)
    rng = np.random.default_rng(2)
    rows = []
    scale = {("ot", "ot"): 1.0, ("rotated", "rotated"): 3.0, ("ot", "independent"): 2.0,
             ("rotated", "independent"): 4.0, ("ot", "rotated"): 5.0, ("rotated", "ot"): 6.0}
    for dim in (2, 10):
        for (field, coupling), s in scale.items():
            for sigma in (0.0, SIGMA_V):
                for rep in range(8):
                    for space in ("output", "parameter"):
                        own = field == coupling
                        value = 0.0 if (own and sigma == 0.0) else s * (1 + 0.1 * rng.random())
                        rows.append({"dim": dim, "field": field, "coupling": coupling, "sigma": sigma, "seed": 0,
                                     "rep": rep, "space": space, "grad_var_trace": value})
    whole = pd.DataFrame(rows)
    tables = root / exp.name / "tables"
    write_table(summarise(whole, ["dim", "field", "coupling", "sigma", "space"], value="grad_var_trace", count_by="rep",
                     count_name="n_reps"), tables / "variance_summary.csv")
    write_table(gaussian_verdicts(whole, ["dim"], 1e-12, 0.05), tables / "variance_verdicts.csv")
    return exp


def _reflow(root: Path) -> Experiment:
    exp = experiment("rf", "reflow", ("coupling", "sigma", "seed"), stall_tol=0.01)
    rng = np.random.default_rng(3)
    rows = []
    for coupling in ("ot", "independent"):
        for sigma in (0.0, SIGMA_V):
            for seed in SEEDS:
                for rnd in (0, 1, 2):
                    shift = (0.001 if coupling == "ot" else 0.05) * (1 + rng.random())
                    rows.append({"coupling": coupling, "sigma": sigma, "seed": seed, "round": rnd,
                                 "metric": "relative_shift", "value": shift})
    frame = pd.DataFrame(rows)
    tables = root / exp.name / "tables"
    write_table(summarise(frame, ["coupling", "sigma", "metric", "round"]), tables / "summary.csv")
    write_table(c8_verdicts(frame, [], 0.01), tables / "verdicts.csv")
    return exp




def build(root: Path) -> tuple[Path, dict[str, Experiment], pd.DataFrame]:
    """The four experiments' tables under ``root`` and the paper table of them: ``(root, experiments, table)``."""
    exps = {e.name: e for e in (_rotation(root), _gaussian(root), _mog(root), _reflow(root))}
    return root, exps, paper_table(exps, root)


def read_table(root: Path, name: str, file: str = "verdicts.csv") -> pd.DataFrame:
    """Table ``file`` of experiment ``name`` (its verdicts by default)."""
    return pd.read_csv(root / name / "tables" / file)
