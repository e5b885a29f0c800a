"""The ``rotation`` report (Counter Example 1, claim C4): tables over seeds, the C4 verdict, figures.

The C4 verdict rule, fixed before any run, for one setting (every grid value but
``coupling``, ``sigma`` and ``seed``, and one evaluation ``solver_steps``), on the ``rotated`` coupling and
the training sources: per seed s, D_s(sigma) = l2_to_ot - l2_to_training_partner (> 0: the endpoints lie
nearer the training partner T(x_0) than the OT partner).

- reproduced: D_s(0) > 0 for every seed and D_s(verdict_sigma) < 0 for every seed;
- not reproduced: D_s(0) < 0 for every seed, or D_s(verdict_sigma) > 0 for every seed;
- inconclusive: anything else (seeds disagree), or fewer than two seeds

(:func:`rfpipe.reporting.verdict.decide` with the sign of D_s in every seed as the evidence).

Before all of these: ``not converged`` when any cell the verdict rests on (the coupling, both sigmas, those seeds)
did not meet its convergence criterion (:mod:`rfpipe.convergence`; the ``convergence`` table lists every cell).

``p_value`` is a one-sided paired t-test over seeds of D_s(0) > D_s(verdict_sigma), reported beside
the verdict but not part of it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rfpipe.reporting.common import (label, plot_gradvar, plot_timeline, read_cells, save_figure, summarise,
                                     write_convergence, write_table)
from rfpipe.reporting.verdict import all_converged, decide, one_sided
from rfpipe.kinds.rotation import KIND
from rfpipe.layout import ExperimentLayout
from rfpipe.reporting.paper import CLAIMS, axes_except, read_table, verdict_metric_rows
from rfpipe.sweep import Experiment

__all__ = ["c4_verdicts", "report_rotation", "paper_rows", "report"]

CLAIM = "C4"


def _setting_axes(experiment: Experiment) -> list[str]:
    return [a for a in experiment.axes if a not in ("coupling", "sigma", "seed")]


def c4_verdicts(metrics: pd.DataFrame, setting_axes: list[str], verdict_sigma: float,
                convergence: pd.DataFrame | None = None) -> pd.DataFrame:
    """The C4 verdict per setting and ``solver_steps`` (rule in the module docstring); ``not converged`` when a
    cell it rests on (rotated coupling, both sigmas, those seeds) did not meet its criterion (``convergence``:
    one row per cell, as ``convergence.parquet`` read over the sweep; None: not checked)."""
    m = metrics[(metrics["coupling"] == "rotated") & (metrics["split"] == "train")]
    wide = m.pivot_table(index=[*setting_axes, "solver_steps", "sigma", "seed"], columns="metric", values="value")
    wide["d"] = wide["l2_to_ot"] - wide["l2_to_training_partner"]
    wide = wide.reset_index()
    rows = []
    for key, group in wide.groupby([*setting_axes, "solver_steps"], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        d0 = group[group["sigma"] == 0.0].set_index("seed")
        dn = group[group["sigma"] == verdict_sigma].set_index("seed")
        seeds = sorted(set(d0.index) & set(dn.index))
        row: dict[str, Any] = {"claim": CLAIM, **dict(zip([*setting_axes, "solver_steps"], key)),
                               "verdict_sigma": verdict_sigma, "n_seeds": len(seeds)}
        for side, part in (("sigma0", d0), ("noisy", dn)):
            for metric in ("l2_to_training_partner", "l2_to_ot", "pair_recovery", "closer_to_partner"):
                row[f"{metric}_{side}"] = float(part.loc[seeds, metric].mean()) if seeds else math.nan
        a, b = d0.loc[seeds, "d"].to_numpy(), dn.loc[seeds, "d"].to_numpy()
        converged, n_converged, n_cells = all_converged(convergence, {
            **dict(zip(setting_axes, key)), "coupling": "rotated", "sigma": (0.0, verdict_sigma), "seed": seeds})
        verdict = decide([(a > 0).all(), (b < 0).all()], [(a < 0).all(), (b > 0).all()], len(seeds),
                         converged=converged)
        row.update(cells_converged=n_converged, cells=n_cells, p_value=one_sided(a, b)[1], verdict=verdict)
        rows.append(row)
    return pd.DataFrame(rows)


def plot_gradvar_t(gradvar: pd.DataFrame, setting_axes: list[str], path: Path) -> None:
    """grad_var_trace by t-bin at the last probe, by sigma (95 % CI over seeds)."""
    g = gradvar[gradvar["t_bin"].notna()].copy()
    g = g[g["step"] == g["step"].max()]
    g["t"] = (g["t_low"] + g["t_high"]) / 2
    g["setting"] = label(g, setting_axes)
    grid = sns.relplot(data=g, kind="line", x="t", y="grad_var_trace", hue="sigma", col="coupling",
                       row="setting" if setting_axes else None, errorbar=("ci", 95), seed=0,
                       marker="o", palette="viridis", height=2.8,
                       aspect=1.3, facet_kws={"sharey": False})
    grid.set(yscale="log")
    save_figure(grid.figure, path)


def plot_trajectories(traj: pd.DataFrame, setting_axes: list[str], sigmas: list[float], path: Path) -> None:
    """Paths of training sources (rotated coupling, first seed, largest value of each setting axis).

    Rows: solver_steps; columns: sigma. Circles: training partners T(x_0); crosses: OT partners.
    """
    t = traj[(traj["coupling"] == "rotated") & traj["sigma"].isin(sigmas)]
    t = t[t["seed"] == t["seed"].min()]
    for axis in setting_axes:
        t = t[t[axis] == t[axis].max()]
    steps = sorted(t["solver_steps"].unique())
    fig, axes = plt.subplots(len(steps), len(sigmas), figsize=(3.3 * len(sigmas), 3.1 * len(steps)),
                             squeeze=False, sharex=True, sharey=True)
    colors = plt.get_cmap("tab20")
    for r, n in enumerate(steps):
        for c, sigma in enumerate(sigmas):
            ax = axes[r][c]
            part = t[(t["solver_steps"] == n) & (t["sigma"] == sigma)]
            for i, p in part.groupby("sample"):
                p = p.sort_values("t")
                col = colors(int(i) % 20)
                ax.plot(p["x_t_0"], p["x_t_1"], lw=0.8, color=col)
                ax.scatter(p["x_t_0"].iloc[0], p["x_t_1"].iloc[0], s=8, color=col)
                ax.scatter(p["x_1_0"].iloc[0], p["x_1_1"].iloc[0], s=30, facecolors="none", edgecolors=col)
                ax.scatter(p["x_1_ot_0"].iloc[0], p["x_1_ot_1"].iloc[0], s=20, marker="x", color=col)
            ax.set_title(f"sigma={sigma}, solver_steps={n}", fontsize=9)
    fig.suptitle("paths of training sources (o: training partner, x: OT partner)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_memorisation_map(metrics: pd.DataFrame, setting_axes: list[str], path: Path) -> None:
    """Heatmaps of pair_recovery and closer_to_partner over n_pairs x sigma (mean over seeds).

    Training sources, rotated coupling; columns: solver_steps; rows: metric x other setting values.
    """
    m = metrics[(metrics["coupling"] == "rotated") & (metrics["split"] == "train")
                & metrics["metric"].isin(["pair_recovery", "closer_to_partner"])].copy()
    if "n_pairs" not in m:
        m["n_pairs"] = "fixed"
    others = [a for a in setting_axes if a != "n_pairs"]
    m["setting"] = label(m, others)
    rows = [(metric, s) for metric in ("pair_recovery", "closer_to_partner") for s in sorted(m["setting"].unique())]
    steps = sorted(m["solver_steps"].unique())
    fig, axes = plt.subplots(len(rows), len(steps), figsize=(3.4 * len(steps), 2.6 * len(rows)), squeeze=False)
    for r, (metric, setting) in enumerate(rows):
        for c, n in enumerate(steps):
            part = m[(m["metric"] == metric) & (m["setting"] == setting) & (m["solver_steps"] == n)]
            table = part.pivot_table(index="sigma", columns="n_pairs", values="value", aggfunc="mean")
            sns.heatmap(table, ax=axes[r][c], vmin=0, vmax=1, annot=True, fmt=".2f", cmap="mako", cbar=False)
            axes[r][c].set_title(f"{metric}\n{setting}, solver_steps={n}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def report_rotation(experiment: Experiment, cells_dir: str | os.PathLike, tables_dir: str | os.PathLike,
                      figures_dir: str | os.PathLike) -> None:
    """Write an experiment's summary and verdict tables (CSV and Markdown) and its figures."""
    tables, figures = Path(tables_dir), Path(figures_dir)
    axes = _setting_axes(experiment)
    metrics = read_cells(experiment, cells_dir, "metrics.parquet")
    gradvar = read_cells(experiment, cells_dir, "gradvar.parquet")
    traj = read_cells(experiment, cells_dir, "trajectories.parquet")
    by = [*axes, "solver_steps", "split", "metric", "coupling", "sigma"]
    summary = summarise(metrics, by)
    write_table(summary, tables / "summary.csv", tables / "summary.md",
                 f"{experiment.name}: metrics by coupling and sigma (mean and 95 % CI over seeds)")
    verdict_sigma = KIND.report_of(experiment.settings).verdict_sigma
    verdicts = c4_verdicts(metrics, axes, verdict_sigma, write_convergence(experiment, cells_dir, tables))
    write_table(verdicts, tables / "verdicts.csv", tables / "verdicts.md",
                 f"{experiment.name}: claim C4 per setting (sigma = 0 against sigma = {verdict_sigma})")
    plot_gradvar(gradvar, axes, figures / "gradvar.png")
    plot_gradvar_t(gradvar, axes, figures / "gradvar_t.png")
    sigmas = [s for s in (0.0, verdict_sigma) if s in set(traj["sigma"])]
    plot_trajectories(traj, axes, sigmas, figures / "trajectories.png")
    plot_memorisation_map(metrics, axes, figures / "memorisation_map.png")
    plot_timeline(experiment, cells_dir, figures / "timeline.png")


def report(experiment: Experiment, layout: ExperimentLayout) -> None:
    """The kind's report: every table and figure of ``experiment``, whose outputs are in ``layout``."""
    report_rotation(experiment, layout.cells, layout.tables, layout.figures)


def paper_rows(experiment: Experiment, experiment_dir: Path) -> list[dict[str, Any]]:
    """C4: per setting and solver_steps, the four endpoint metrics of the rotated coupling's training sources
    at sigma = 0 and verdict_sigma; p_value: the verdict's paired t-test (same on every row)."""
    verdicts, summary = read_table(experiment_dir, "verdicts.csv"), read_table(experiment_dir, "summary.csv")
    sigma_v = float(KIND.report_of(experiment.settings).verdict_sigma)
    rows: list[dict[str, Any]] = []
    for _, v in verdicts.iterrows():
        rows += verdict_metric_rows(
            v, summary, setting_cols=[*axes_except(experiment, ("coupling", "sigma", "seed")), "solver_steps"],
            metrics=["l2_to_training_partner", "l2_to_ot", "pair_recovery", "closer_to_partner"],
            sigmas={"sigma0": 0.0, "noisy": sigma_v}, summary_match={"split": "train", "coupling": "rotated"},
            p_value=lambda metric, label, v=v: v["p_value"], paper_item=CLAIMS["C4"][0])
    return rows
