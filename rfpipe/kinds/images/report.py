"""The ``images`` report (Tables 2 and 3, claims C6 and C7): L2 tables beside the reported numbers, verdicts,
an image grid per setting.

Distances are Euclidean over all pixels of images in [-1, 1], from a model's endpoint for a training source
to that source's training partner and to its OT partner, averaged over the training sources of a cell;
then mean and 95 % interval over seeds. With gap = l2_to_training_partner - l2_to_ot per seed and
sigma_v = ``verdict_sigma``, the rules, fixed before any run, per setting (grid values other than coupling,
sigma and seed) and ``solver_steps``, with one-sided t-tests over seeds at level ``alpha``:

- C6 (coupling ``adversarial``): gap(0) < 0 (sigma = 0 nearer its shuffled training partner) and
  gap(sigma_v) > 0 (sigma_v nearer the OT partner). Reproduced: both hold; not reproduced: either opposite
  direction holds; inconclusive: anything else, or fewer than two seeds.
- C6, size trend (``n_pairs`` a grid axis): memorisation weaker at the largest N than at the smallest,
  gap(0) larger at the largest N (paired over seeds). Same three outcomes.
- C7 (coupling ``reflow``): l2_to_training_partner(0) < l2_to_training_partner(sigma_v) (sigma = 0 reproduces
  the generated partners more closely) and l2_to_ot(sigma_v) < l2_to_ot(0) (paired over seeds). Same outcomes.

Each is the shared rule, :func:`rfpipe.reporting.verdict.decide`, on t-tests of
:func:`~rfpipe.reporting.verdict.one_sided`; the reported numbers come from :mod:`rfpipe.reporting.reference`.

Before all of these: ``not converged`` when any cell the verdict rests on (the coupling, both sigmas, those seeds)
did not meet its convergence criterion (:mod:`rfpipe.convergence`; the ``convergence`` table lists every cell).

Reported numbers (CelebA 64 x 64, N = 5,000 and 50,000) sit beside ours: a row's ``paper_setting`` is the
paper's N equal to ours, else by rank (our smallest N beside n=5000, our largest beside n=50000). Our
images are smaller (fewer pixels), so the paper's distances are on another scale: compare directions.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from rfpipe.io import load_tensors
from rfpipe.reporting.common import (plot_gradvar, plot_timeline, read_cells, save_figure, summarise,
                                     write_convergence, write_table)
from rfpipe.reporting.reference import reported_value
from rfpipe.reporting.verdict import all_converged, decide, one_sided, significant
from rfpipe.kinds.images import KIND
from rfpipe.layout import ExperimentLayout
from rfpipe.reporting.paper import (CLAIMS, as_float, axes_except, converged_text, isna, read_table, setting_text,
                                    verdict_metric_rows,
                                    verdict_text)
from rfpipe.sweep import Experiment

__all__ = ["c6_c7_verdicts", "plot_image_grid", "report_images", "paper_rows", "report"]

L2 = ("l2_to_training_partner", "l2_to_ot")
PAPER_TABLE = {"adversarial": ("table2", "Table 2", "C6"), "reflow": ("table3", "Table 3", "C7")}


def _paper_setting(n: Any, all_n: list[Any], coupling: str) -> str:
    sizes = [5000, 50000] if coupling == "adversarial" else [5000]
    if n in sizes:
        return f"n={n}"
    if n is None or len(all_n) < 2:
        return f"n={sizes[0]}"
    return f"n={sizes[-1]}" if n == max(all_n) else f"n={sizes[0]}" if n == min(all_n) else ""


def c6_c7_verdicts(metrics: pd.DataFrame, setting_axes: list[str], verdict_sigma: float, alpha: float,
                   n_pairs: int | None = None, convergence: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim (C6 per setting, the C6 size trend, C7 per setting) and solver_steps, with the means
    at sigma = 0 and sigma_v over seeds, the reported values, the p-values and the verdict (module doc;
    ``not converged`` when a cell of the coupling at either sigma did not meet its criterion)."""
    m = metrics[(metrics["split"] == "train") & metrics["metric"].isin((*L2, "pair_recovery"))]
    wide = m.pivot_table(index=[*setting_axes, "coupling", "solver_steps", "sigma", "seed"], columns="metric",
                         values="value").reset_index()
    wide["gap"] = wide["l2_to_training_partner"] - wide["l2_to_ot"]
    all_n = sorted(wide["n_pairs"].unique()) if "n_pairs" in setting_axes else []
    rows: list[dict[str, Any]] = []
    gaps: dict[tuple[Any, ...], pd.Series] = {}
    trained: dict[tuple[Any, ...], bool] = {}
    for key, group in wide.groupby(["coupling", *setting_axes, "solver_steps"], sort=True):
        coupling, *rest = key
        if coupling not in PAPER_TABLE:
            continue
        setting = dict(zip([*setting_axes, "solver_steps"], rest))
        zero = group[group["sigma"] == 0.0].set_index("seed")
        noisy = group[group["sigma"] == verdict_sigma].set_index("seed")
        seeds = sorted(set(zero.index) & set(noisy.index))
        table, item, claim = PAPER_TABLE[coupling]
        converged, n_converged, n_cells = all_converged(convergence, {
            **dict(zip(setting_axes, rest)), "coupling": coupling, "sigma": (0.0, verdict_sigma), "seed": seeds})
        paper_setting = _paper_setting(setting.get("n_pairs", n_pairs), all_n, coupling)
        row: dict[str, Any] = {"claim": claim, "paper_item": item, "coupling": coupling, **setting,
                               "n_seeds": len(seeds), "paper_setting": paper_setting,
                               "cells_converged": n_converged, "cells": n_cells}
        for metric in (*L2, "pair_recovery"):
            for label, part, sigma in (("sigma0", zero, 0.0), ("noisy", noisy, verdict_sigma)):
                row[f"{metric}_{label}"] = float(part.loc[seeds, metric].mean()) if seeds else math.nan
                if metric in L2:
                    row[f"{metric}_{label}_paper"] = reported_value(table, paper_setting, metric, sigma)
        if coupling == "adversarial":
            zeros = pd.Series(0.0, index=seeds)
            p0_less, p0_more = one_sided(zero.loc[seeds, "gap"], zeros)
            pv_less, pv_more = one_sided(noisy.loc[seeds, "gap"], zeros)
            row.update(p_sigma0=p0_less, p_noisy=pv_more)
            row["verdict"] = decide(significant([p0_less, pv_more], alpha), significant([p0_more, pv_less], alpha),
                                    len(seeds), converged=converged)
            trained[(setting.get("n_pairs"), *[v for k, v in setting.items() if k != "n_pairs"])] = (n_converged,
                                                                                                     n_cells)
            gaps[(setting.get("n_pairs"), *[v for k, v in setting.items() if k != "n_pairs"])] = zero.loc[seeds, "gap"]
        else:
            partner_less, partner_more = one_sided(zero.loc[seeds, "l2_to_training_partner"],
                                                    noisy.loc[seeds, "l2_to_training_partner"])
            ot_less, ot_more = one_sided(noisy.loc[seeds, "l2_to_ot"], zero.loc[seeds, "l2_to_ot"])
            row.update(p_sigma0=partner_less, p_noisy=ot_less)
            row["verdict"] = decide(significant([partner_less, ot_less], alpha),
                                    significant([partner_more, ot_more], alpha), len(seeds), converged=converged)
        rows.append(row)
    if len(all_n) >= 2:
        others = {k[1:] for k in gaps}
        for rest in sorted(others, key=str):
            small, large = gaps.get((all_n[0], *rest)), gaps.get((all_n[-1], *rest))
            if small is None or large is None:
                continue
            seeds = sorted(set(small.index) & set(large.index))
            more, less = one_sided(small.loc[seeds], large.loc[seeds])  # gap(0) smaller at small N
            rest_keys = [a for a in [*setting_axes, "solver_steps"] if a != "n_pairs"]
            rows.append({"claim": "C6 (size)", "paper_item": "Table 2", "coupling": "adversarial",
                         **dict(zip(rest_keys, rest)), "n_pairs": f"{all_n[0]} vs {all_n[-1]}",
                         "n_seeds": len(seeds), "paper_setting": "n=5000 vs n=50000",
                         "gap_sigma0_small_n": float(small.loc[seeds].mean()),
                         "gap_sigma0_large_n": float(large.loc[seeds].mean()),
                         "p_sigma0": more,
                         "cells_converged": trained[(all_n[0], *rest)][0] + trained[(all_n[-1], *rest)][0],
                         "cells": trained[(all_n[0], *rest)][1] + trained[(all_n[-1], *rest)][1]})
            converged = rows[-1]["cells_converged"] == rows[-1]["cells"]
            rows[-1]["verdict"] = decide(significant([more], alpha), significant([less], alpha), len(seeds),
                                         converged=converged)
    return pd.DataFrame(rows)


def _show(x: torch.Tensor) -> np.ndarray:
    """An image in [-1, 1] (C, H, W) as an array for imshow, clipped to [0, 1]."""
    img = ((x.float() + 1) / 2).clamp(0, 1)
    return img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()


def plot_image_grid(experiment: Experiment, cells_dir: str | os.PathLike, path: Path, seed: int | None = None,
                    verdict_sigma: float = 0.05) -> None:
    """Per setting (grid values with coupling), rows: source noise, OT partner, training partner, the sigma = 0
    output and the sigma_v output of the first training sources of one seed (the smallest)."""
    cells = list(experiment.cells.values())
    seed = min(c.settings["seed"] for c in cells) if seed is None else seed
    settings: dict[tuple[Any, ...], dict[float, Path]] = {}
    for cell in cells:
        st = cell.settings
        if st["seed"] != seed or st["sigma"] not in (0.0, verdict_sigma):
            continue
        key = tuple((k, v) for k, v in cell.params if k not in ("sigma", "seed"))
        settings.setdefault(key, {})[st["sigma"]] = Path(cells_dir) / cell.path / "grid.pt"
    blocks = [(key, files) for key, files in settings.items() if len(files) == 2]
    n = max((load_tensors(files[0.0])["x_0"].shape[0] for _, files in blocks), default=1)
    names = ("source x_0", "OT partner", "training partner", "sigma = 0", f"sigma = {verdict_sigma}")
    if not blocks:  # no setting has both sigmas (a sweep of sigma = 0 alone): say so rather than fail
        fig, ax = plt.subplots(figsize=(5, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"no setting with both sigma = 0 and sigma = {verdict_sigma}: no image grid", ha="center",
                va="center", fontsize=9)
        save_figure(fig, path)
        return
    fig, axs = plt.subplots(len(blocks) * 5, n, figsize=(0.9 * n + 1.6, 0.95 * 5 * len(blocks)), squeeze=False)
    for b, (key, files) in enumerate(blocks):
        zero, noisy = load_tensors(files[0.0]), load_tensors(files[verdict_sigma])
        images = (zero["x_0"], zero["x_1_ot"], zero["x_1"], zero["output"], noisy["output"])
        for r, (name, batch) in enumerate(zip(names, images)):
            for j in range(n):
                ax = axs[5 * b + r, j]
                ax.set_xticks([]), ax.set_yticks([])
                if j < batch.shape[0]:
                    ax.imshow(_show(batch[j]), cmap="gray", vmin=0, vmax=1)
            axs[5 * b + r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        axs[5 * b, 0].set_title(", ".join(f"{k}={v}" for k, v in key) + f", seed={seed}", loc="left", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.35)
    save_figure(fig, path)


def report_images(experiment: Experiment, cells_dir: str | os.PathLike, tables_dir: str | os.PathLike,
                  figures_dir: str | os.PathLike) -> None:
    """Write the images summary and C6/C7 verdict tables and the figures (image grid, L2 by sigma, gradient
    variance)."""
    tables, figures = Path(tables_dir), Path(figures_dir)
    axes = [a for a in experiment.axes if a not in ("coupling", "sigma", "seed")]
    st = experiment.settings
    metrics = read_cells(experiment, cells_dir, "metrics.parquet")
    gradvar = read_cells(experiment, cells_dir, "gradvar.parquet")
    summary = summarise(metrics, [*axes, "solver_steps", "split", "metric", "coupling", "sigma"])
    write_table(summary, tables / "summary.csv", tables / "summary.md",
                f"{experiment.name}: metrics by coupling and sigma (mean and 95 % CI over seeds; *_std: spread "
                "over samples)")
    report_st = KIND.report_of(st)
    verdicts = c6_c7_verdicts(metrics, axes, report_st.verdict_sigma, report_st.alpha, st.get("n_pairs"),
                              write_convergence(experiment, cells_dir, tables))
    write_table(verdicts, tables / "verdicts.csv", tables / "verdicts.md",
                f"{experiment.name}: claims C6 and C7 (t-tests over seeds; *_paper: reported for CelebA 64x64, "
                "not checked against the PDF)")
    mm = metrics[(metrics["split"] == "train") & metrics["metric"].isin(L2)].copy()
    mm["setting"] = mm[axes].astype(str).agg(", ".join, axis=1) if axes else "all"
    grid = sns.catplot(data=mm, kind="point", x="sigma", y="value", hue="metric", col="coupling", row="setting",
                       errorbar=("ci", 95), seed=0, dodge=0.2, height=2.8, aspect=1.2, sharey=False)
    grid.set_axis_labels("sigma", "L2 from the endpoint (training sources)")
    save_figure(grid.figure, figures / "l2.png")
    plot_image_grid(experiment, cells_dir, figures / "image_grid.png", verdict_sigma=report_st.verdict_sigma)
    plot_gradvar(gradvar, axes, figures / "gradvar.png")
    plot_timeline(experiment, cells_dir, figures / "timeline.png")
    plt.close("all")


def report(experiment: Experiment, layout: ExperimentLayout) -> None:
    """The kind's report: every table and figure of ``experiment``, whose outputs are in ``layout``."""
    report_images(experiment, layout.cells, layout.tables, layout.figures)


def paper_rows(experiment: Experiment, experiment_dir: Path) -> list[dict[str, Any]]:
    """C6 (Table 2, adversarial pairing) and C7 (Table 3, simulated 1-ReFlow), from the verdict table of
    :func:`rfpipe.kinds.images.report.c6_c7_verdicts`: both L2 distances at sigma = 0 and verdict_sigma per
    setting beside the reported CelebA numbers of the row's ``paper_setting``; p_value: for C6 the test at that
    sigma (gap(0) < 0, gap(sigma_v) > 0), for C7 the test on that distance. The C6 size trend: the sigma = 0
    gap (partner - OT distance) at the smallest and largest N. (A default: a function registered later for
    ``images``, e.g. in :mod:`rfpipe.kinds.images.report`, replaces it.)"""
    verdicts, summary = read_table(experiment_dir, "verdicts.csv"), read_table(experiment_dir, "summary.csv")
    axes = [*axes_except(experiment, ("coupling", "sigma", "seed")), "solver_steps"]
    sigma_v = float(KIND.report_of(experiment.settings).verdict_sigma)
    rows: list[dict[str, Any]] = []
    for _, v in verdicts.iterrows():
        if v["claim"] == "C6 (size)":
            setting = {"coupling": "adversarial", **{a: v[a] for a in axes if a in v and not isna(v[a])}}
            text = setting_text(setting) + " (size trend)"
            for which in ("small_n", "large_n"):
                rows.append({"claim": "C6", "paper_item": CLAIMS["C6"][0], "setting": text,
                             "metric": f"l2 gap partner - OT ({which.replace('_', ' ')})", "sigma": 0.0,
                             "ours_mean": as_float(v[f"gap_sigma0_{which}"]), "n_seeds": as_float(v["n_seeds"]),
                             "p_value": as_float(v["p_sigma0"]), "verdict": verdict_text(v["verdict"]),
                             "converged": converged_text(v), "unit": text})
            continue
        table = {"C6": "table2", "C7": "table3"}[v["claim"]]
        if v["claim"] == "C6":
            def p_value(metric: str, label: str, v: Any = v) -> Any:
                return v["p_sigma0" if label == "sigma0" else "p_noisy"]
        else:
            def p_value(metric: str, label: str, v: Any = v) -> Any:
                return v["p_sigma0" if metric == "l2_to_training_partner" else "p_noisy"]
        paper = v["paper_setting"] if isinstance(v.get("paper_setting"), str) else ""
        rows += verdict_metric_rows(
            v, summary, setting_cols=axes, metrics=["l2_to_training_partner", "l2_to_ot"],
            sigmas={"sigma0": 0.0, "noisy": sigma_v}, summary_match={"split": "train", "coupling": v["coupling"]},
            p_value=p_value, paper_value=lambda metric, sigma, t=table, s=paper: reported_value(t, s, metric, sigma),
            setting_extra={"coupling": v["coupling"]})
    return rows
