"""The ``mog`` report (Table 1, claim C5): MMD tables over seeds beside the reported numbers, the verdict.

The C5 rule, fixed before any run, per setting (grid values other than coupling, sigma and seed) and
``solver_steps``, on the ``paired`` coupling, with sigma_v = ``verdict_sigma``: one-sided paired t-tests
over seeds of memorisation_mmd_biased(0) < memorisation_mmd_biased(sigma_v) and of
generalisation_mmd(sigma_v) < generalisation_mmd(0). The memorisation half uses the V-statistic MMD_b^2 of the
endpoints against their training targets, which is 0 exactly when they reproduce them; the unbiased MMD_u^2
(``memorisation_mmd``, beside the paper's number) sits at its floor -2(1 - kbar)/n for any two nearly identical
sets, so it cannot separate the two sigmas (issue 15: in d = 50 both showed the same value); its own test is
reported (``p_memorisation_unbiased``) but does not decide.

- reproduced: both with p < ``alpha``;
- not reproduced: either opposite direction with p < ``alpha``;
- inconclusive: anything else, or fewer than two seeds

(:func:`rfpipe.reporting.verdict.decide` on the two tests of :func:`~rfpipe.reporting.verdict.one_sided`).

Before all of these: ``not converged`` when any cell the verdict rests on (the coupling, both sigmas, those seeds)
did not meet its convergence criterion (:mod:`rfpipe.convergence`; the ``convergence`` table lists every cell).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from rfpipe.reporting.common import (plot_gradvar, plot_timeline, read_cells, save_figure, summarise,
                                     write_convergence, write_table)
from rfpipe.reporting.reference import reported_value
from rfpipe.reporting.verdict import all_converged, decide, one_sided, significant
from rfpipe.kinds.mog import KIND
from rfpipe.layout import ExperimentLayout
from rfpipe.reporting.paper import CLAIMS, axes_except, isna, read_table, value_text, verdict_metric_rows
from rfpipe.sweep import Experiment

__all__ = ["c5_verdicts", "report_mog", "paper_rows", "report"]

METRICS = ("memorisation_mmd", "memorisation_mmd_biased", "generalisation_mmd")
MEMORISATION = "memorisation_mmd_biased"
"""The metric of the rule's memorisation half (module docstring)."""


def c5_verdicts(metrics: pd.DataFrame, setting_axes: list[str], verdict_sigma: float, alpha: float,
                dim: int | None = None, convergence: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per setting and solver_steps: both MMDs at sigma = 0 and sigma_v, the paper's, p-values, verdict
    (``not converged`` when a paired cell at either sigma did not meet its criterion; see ``c4_verdicts``)."""
    m = metrics[(metrics["coupling"] == "paired") & metrics["metric"].isin(METRICS)]
    wide = m.pivot_table(index=[*setting_axes, "solver_steps", "sigma", "seed"], columns="metric",
                         values="value").reset_index()
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
                row[f"{metric}_{label}_paper"] = reported_value("table1", f"d={d}", metric, sigma)
        mem_less, mem_more = one_sided(zero.loc[seeds, MEMORISATION], noisy.loc[seeds, MEMORISATION])
        unbiased_less, _ = one_sided(zero.loc[seeds, "memorisation_mmd"], noisy.loc[seeds, "memorisation_mmd"])
        gen_less, gen_more = one_sided(noisy.loc[seeds, "generalisation_mmd"], zero.loc[seeds, "generalisation_mmd"])
        converged, n_converged, n_cells = all_converged(convergence, {
            **dict(zip(setting_axes, key)), "coupling": "paired", "sigma": (0.0, verdict_sigma), "seed": seeds})
        row.update(cells_converged=n_converged, cells=n_cells, p_memorisation=mem_less, p_generalisation=gen_less,
                   p_memorisation_unbiased=unbiased_less)
        row["verdict"] = decide(significant([mem_less, gen_less], alpha), significant([mem_more, gen_more], alpha),
                                len(seeds), converged=converged)
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
    st = KIND.report_of(experiment.settings)
    verdicts = c5_verdicts(metrics, axes, st.verdict_sigma, st.alpha, experiment.settings.get("dim"),
                           write_convergence(experiment, cells_dir, tables))
    write_table(verdicts, tables / "verdicts.csv", tables / "verdicts.md",
                f"{experiment.name}: claim C5 (paired t-tests over seeds; *_paper: reported, not checked against "
                "the PDF)")
    mm = metrics[metrics["metric"].isin(METRICS)].copy()
    mm["setting"] = mm[axes].astype(str).agg(", ".join, axis=1) if axes else "all"
    grid = sns.catplot(data=mm, kind="point", x="sigma", y="value", hue="coupling", col="metric", row="setting",
                       errorbar=("ci", 95), seed=0, dodge=0.25 if mm["coupling"].nunique() > 1 else False, height=2.8,
                       aspect=1.2, sharey=False)
    grid.set(yscale="symlog")
    save_figure(grid.figure, figures / "mmd.png")
    plot_gradvar(gradvar, axes, figures / "gradvar.png")
    plot_timeline(experiment, cells_dir, figures / "timeline.png")
    plt.close("all")


def report(experiment: Experiment, layout: ExperimentLayout) -> None:
    """The kind's report: every table and figure of ``experiment``, whose outputs are in ``layout``."""
    report_mog(experiment, layout.cells, layout.tables, layout.figures)


def paper_rows(experiment: Experiment, experiment_dir: Path) -> list[dict[str, Any]]:
    """C5 (Table 1): the MMDs at sigma = 0 and verdict_sigma per setting and solver_steps, beside the reported
    d = 3 / d = 50 values; p_value: the one-sided paired t-test for that MMD (the verdict's for the biased
    memorisation MMD and the generalisation MMD)."""
    verdicts, summary = read_table(experiment_dir, "verdicts.csv"), read_table(experiment_dir, "summary.csv")
    sigma_v = float(KIND.report_of(experiment.settings).verdict_sigma)
    axes = [*axes_except(experiment, ("coupling", "sigma", "seed")), "solver_steps"]
    rows: list[dict[str, Any]] = []
    for _, v in verdicts.iterrows():
        dim = v["dim"] if "dim" in v and not isna(v["dim"]) else experiment.settings.get("dim")
        extra = {} if "dim" in axes else {"dim": dim}
        for metric, split, p in (("memorisation_mmd", "train", "p_memorisation_unbiased"),
                                 (MEMORISATION, "train", "p_memorisation"),
                                 ("generalisation_mmd", "test", "p_generalisation")):
            rows += verdict_metric_rows(
                v, summary, setting_cols=axes, metrics=[metric], sigmas={"sigma0": 0.0, "noisy": sigma_v},
                summary_match={"split": split, "coupling": "paired"},
                p_value=lambda metric, label, v=v, p=p: v[p],
                paper_value=lambda metric, sigma, dim=dim: reported_value("table1", f"d={value_text(dim)}", metric,
                                                                          sigma),
                paper_item=CLAIMS["C5"][0], setting_extra=extra)
    return rows
