"""The ``mog`` report (Table 1, claim C5): MMD tables over seeds beside the reported numbers, the verdict.

The C5 rule, fixed before any run, per setting (grid values other than coupling, sigma and seed) and
``solver_steps``, on the ``paired`` coupling, with sigma_v = ``verdict_sigma``: one-sided paired t-tests
over seeds of memorisation_mmd(0) < memorisation_mmd(sigma_v) and of
generalisation_mmd(sigma_v) < generalisation_mmd(0).

- reproduced: both with p < ``alpha``;
- not reproduced: either opposite direction with p < ``alpha``;
- inconclusive: anything else, or fewer than two seeds.
"""

from __future__ import annotations

import math
import os
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from scipy import stats

from rfpipe.reporting.common import read_cells, save_figure, summarise, write_table
from rfpipe.reporting.rotation import plot_gradvar
from rfpipe.sweep import Experiment

__all__ = ["c5_verdicts", "reported_results", "report_mog"]

METRICS = ("memorisation_mmd", "generalisation_mmd")


def reported_results() -> pd.DataFrame:
    """The numbers reported for the paper's tables (``rfpipe/reference/reported_results.csv``)."""
    with resources.files("rfpipe").joinpath("reference/reported_results.csv").open() as f:
        return pd.read_csv(f)


def _paper_value(reported: pd.DataFrame, dim: Any, metric: str, sigma: float) -> float:
    name = {"memorisation_mmd": "memorization_mmd", "generalisation_mmd": "generalization_mmd"}[metric]
    rows = reported[(reported["table"] == "table1") & (reported["setting"] == f"d={dim}")
                    & (reported["metric"] == name) & (reported["sigma"] == sigma)]
    return float(rows["value"].iloc[0]) if len(rows) else math.nan


def _one_sided(a: Any, b: Any) -> tuple[float, float]:
    """p-values of mean(a - b) < 0 and > 0 (paired t-test); NaN if the differences are constant."""
    diff = pd.Series(a).to_numpy() - pd.Series(b).to_numpy()
    if len(diff) < 2 or diff.std() == 0:
        return math.nan, math.nan
    return (float(stats.ttest_1samp(diff, 0.0, alternative="less").pvalue),
            float(stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue))


def c5_verdicts(metrics: pd.DataFrame, setting_axes: list[str], verdict_sigma: float, alpha: float,
                dim: int | None = None) -> pd.DataFrame:
    """One row per setting and solver_steps: both MMDs at sigma = 0 and sigma_v, the paper's, p-values, verdict."""
    m = metrics[(metrics["coupling"] == "paired") & metrics["metric"].isin(METRICS)]
    wide = m.pivot_table(index=[*setting_axes, "solver_steps", "sigma", "seed"], columns="metric",
                         values="value").reset_index()
    reported = reported_results()
    rows = []
    for key, group in wide.groupby([*setting_axes, "solver_steps"], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        setting = dict(zip([*setting_axes, "solver_steps"], key))
        zero = group[group["sigma"] == 0.0].set_index("seed")
        noisy = group[group["sigma"] == verdict_sigma].set_index("seed")
        seeds = sorted(set(zero.index) & set(noisy.index))
        d = setting.get("dim", dim)
        row: dict[str, Any] = {"claim": "C5", "paper_item": "Table 1", **setting, "n_seeds": len(seeds)}
        for metric in METRICS:
            for label, part, sigma in (("sigma0", zero, 0.0), ("noisy", noisy, verdict_sigma)):
                row[f"{metric}_{label}"] = float(part.loc[seeds, metric].mean()) if seeds else math.nan
                row[f"{metric}_{label}_paper"] = _paper_value(reported, d, metric, sigma)
        mem_less, mem_more = _one_sided(zero.loc[seeds, "memorisation_mmd"], noisy.loc[seeds, "memorisation_mmd"])
        gen_less, gen_more = _one_sided(noisy.loc[seeds, "generalisation_mmd"], zero.loc[seeds, "generalisation_mmd"])
        row.update(p_memorisation=mem_less, p_generalisation=gen_less)
        if len(seeds) >= 2 and mem_less < alpha and gen_less < alpha:
            verdict = "reproduced"
        elif len(seeds) >= 2 and (mem_more < alpha or gen_more < alpha):
            verdict = "not reproduced"
        else:
            verdict = "inconclusive"
        row["verdict"] = verdict
        rows.append(row)
    return pd.DataFrame(rows)


def report_mog(experiment: Experiment, cells_dir: str | os.PathLike, tables_dir: str | os.PathLike,
               figures_dir: str | os.PathLike) -> None:
    """Write the mog summary and C5 verdict tables and the figures (MMDs by sigma, gradient variance)."""
    tables, figures = Path(tables_dir), Path(figures_dir)
    axes = [a for a in experiment.axes if a not in ("coupling", "sigma", "seed")]
    metrics = read_cells(experiment, cells_dir, "metrics.parquet")
    gradvar = read_cells(experiment, cells_dir, "gradvar.parquet")
    summary = summarise(metrics, [*axes, "solver_steps", "split", "metric", "coupling", "sigma"])
    write_table(summary, tables / "summary.csv", tables / "summary.md",
                f"{experiment.name}: metrics by coupling and sigma (mean and 95 % CI over seeds)")
    verdicts = c5_verdicts(metrics, axes, experiment.settings["verdict_sigma"], experiment.settings["alpha"],
                           experiment.settings.get("dim"))
    write_table(verdicts, tables / "verdicts.csv", tables / "verdicts.md",
                f"{experiment.name}: claim C5 (paired t-tests over seeds; *_paper: reported, not checked against the PDF)")
    mm = metrics[metrics["metric"].isin(METRICS)].copy()
    mm["setting"] = mm[axes].astype(str).agg(", ".join, axis=1) if axes else "all"
    grid = sns.catplot(data=mm, kind="point", x="sigma", y="value", hue="coupling", col="metric", row="setting",
                       errorbar=("ci", 95), seed=0, dodge=0.25 if mm["coupling"].nunique() > 1 else False, height=2.8,
                       aspect=1.2, sharey=False)
    grid.set(yscale="symlog")
    save_figure(grid.figure, figures / "mmd.png")
    plot_gradvar(gradvar, axes, figures / "gradvar.png")
    plt.close("all")
