"""The ``gaussian_variance`` report (claims C1, C2, C3): tables, verdicts and figures.

Input: one row per cell x repetition x space (``output``, ``parameter``) x t-bin, from
:func:`rfpipe.gaussian.variance_at_field`; the verdicts use the whole-t rows (``t_bin`` null). A
*setting* is one value of every grid axis other than ``field``, ``coupling``, ``sigma`` and ``seed``.
The rules, fixed before any run:

- **C1** (per setting, space, field; "own" data: ``coupling == field``): reproduced if every
  repetition at sigma = 0 has grad_var_trace <= ``zero_tol`` and every repetition at each sigma > 0 has
  grad_var_trace > ``zero_tol``; not reproduced if either fails; inconclusive without both sigma = 0 and
  a sigma > 0 in the grid.
- **C2** (per setting, sigma > 0, space, reading): paired by (seed, repetition), A = trace at the OT
  field and B = trace at the rotated field, with the data from each field's own coupling (reading
  ``own``) or from the independent coupling for both (reading ``independent``). One-sided Wilcoxon
  signed-rank tests: reproduced if A < B with p < ``alpha``; not reproduced if A > B with p < ``alpha``;
  inconclusive otherwise.
- **C3** (per setting, sigma, space): at the OT field, A = trace on independent data and B = trace on
  rotated data (by ``angle``; the paper's figure is 120 degrees), paired, the same test and thresholds.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import pyarrow.parquet as pq
import seaborn as sns
from scipy import stats

from rfpipe.reporting.common import save_figure, summarise, write_table
from rfpipe.sweep import Experiment

__all__ = ["gaussian_verdicts", "paired_verdict", "report_gaussian"]

PAIR_KEYS = ["seed", "rep"]


def _setting_axes(frame: pd.DataFrame, experiment: Experiment) -> list[str]:
    return [a for a in experiment.axes if a not in ("field", "coupling", "sigma", "seed")]


def paired_verdict(a: pd.Series, b: pd.Series, alpha: float) -> tuple[str, float, float]:
    """Verdict for "a < b" from paired samples: (verdict, p of a < b, p of a > b), one-sided Wilcoxon."""
    diff = (a - b).to_numpy()
    if len(diff) < 2 or (diff == 0).all():
        return "inconclusive", math.nan, math.nan
    p_less = float(stats.wilcoxon(diff, alternative="less").pvalue)
    p_greater = float(stats.wilcoxon(diff, alternative="greater").pvalue)
    if p_less < alpha:
        return "reproduced", p_less, p_greater
    if p_greater < alpha:
        return "not reproduced", p_less, p_greater
    return "inconclusive", p_less, p_greater


def _groups(frame: pd.DataFrame, keys: list[str]):
    if not keys:
        yield {}, frame
        return
    for key, group in frame.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip(keys, key)), group


def _c1(whole: pd.DataFrame, axes: list[str], zero_tol: float) -> list[dict[str, Any]]:
    rows = []
    own = whole[whole["field"] == whole["coupling"]]
    for key, group in _groups(own, [*axes, "space", "field"]):
        zero = group[group["sigma"] == 0.0]["grad_var_trace"]
        noisy = group[group["sigma"] > 0.0]
        row: dict[str, Any] = {"claim": "C1", "paper_item": "Proposition 1", **key, "data": "own",
                               "max_trace_sigma0": float(zero.max()) if len(zero) else math.nan,
                               "min_trace_noisy": float(noisy["grad_var_trace"].min()) if len(noisy) else math.nan,
                               "n_reps": int(group[PAIR_KEYS].drop_duplicates().shape[0])}
        if zero.empty or noisy.empty:
            row["verdict"] = "inconclusive"
        else:
            ok = bool((zero <= zero_tol).all()) and bool((noisy["grad_var_trace"] > zero_tol).all())
            row["verdict"] = "reproduced" if ok else "not reproduced"
        rows.append(row)
    return rows


def _paired_rows(whole: pd.DataFrame, keys: list[str], pick_a: dict[str, str], pick_b: dict[str, str],
                 base: dict[str, Any], alpha: float) -> list[dict[str, Any]]:
    rows = []
    for key, group in _groups(whole, keys):
        sel_a = group.loc[(group[list(pick_a)] == pd.Series(pick_a)).all(axis=1)].set_index(PAIR_KEYS)
        sel_b = group.loc[(group[list(pick_b)] == pd.Series(pick_b)).all(axis=1)].set_index(PAIR_KEYS)
        common = sel_a.index.intersection(sel_b.index)
        if len(common) == 0:
            continue
        a, b = sel_a.loc[common, "grad_var_trace"], sel_b.loc[common, "grad_var_trace"]
        verdict, p_less, p_greater = paired_verdict(a, b, alpha)
        rows.append({**base, **key, "mean_a": float(a.mean()), "mean_b": float(b.mean()), "n_reps": len(common),
                     "p_value": p_less, "p_opposite": p_greater, "verdict": verdict})
    return rows


def gaussian_verdicts(whole: pd.DataFrame, axes: list[str], zero_tol: float, alpha: float) -> pd.DataFrame:
    """C1, C2 and C3 verdict rows (rules in the module docstring) from the whole-t rows."""
    rows = _c1(whole, axes, zero_tol)
    noisy = whole[whole["sigma"] > 0.0]
    keys = [*axes, "sigma", "space"]
    rows += _paired_rows(noisy, keys, {"field": "ot", "coupling": "ot"}, {"field": "rotated", "coupling": "rotated"},
                         {"claim": "C2", "paper_item": "Figure 4", "data": "own",
                          "a": "OT field, OT pairs", "b": "rotated field, rotated pairs"}, alpha)
    rows += _paired_rows(noisy, keys, {"field": "ot", "coupling": "independent"},
                         {"field": "rotated", "coupling": "independent"},
                         {"claim": "C2", "paper_item": "Figure 4", "data": "independent",
                          "a": "OT field, independent pairs", "b": "rotated field, independent pairs"}, alpha)
    rows += _paired_rows(whole, keys, {"field": "ot", "coupling": "independent"}, {"field": "ot", "coupling": "rotated"},
                         {"claim": "C3", "paper_item": "Figure 5", "data": "OT field",
                          "a": "independent pairs", "b": "rotated pairs"}, alpha)
    frame = pd.DataFrame(rows)
    front = ["claim", "paper_item", *axes, "sigma", "space", "field", "data", "a", "b"]
    return frame[[c for c in front if c in frame] + [c for c in frame if c not in front]]


def _bin_mid(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[frame["t_bin"].notna()].copy()
    frame["t"] = (frame["t_low"] + frame["t_high"]) / 2
    return frame


def report_gaussian(experiment: Experiment, variance: str | os.PathLike, tables_dir: str | os.PathLike,
                    figures_dir: str | os.PathLike) -> None:
    """Write the summary and verdict tables (CSV and Markdown) and the figures of a gaussian_variance run."""
    tables, figures = Path(tables_dir), Path(figures_dir)
    frame = pq.read_table(variance).to_pandas()
    axes = _setting_axes(frame, experiment)
    whole = frame[frame["t_bin"].isna()]
    cell_keys = [*axes, "field", "coupling", "sigma", "space"]
    summary = summarise(whole, cell_keys, value="grad_var_trace", count_by="rep", count_name="n_reps")
    write_table(summary, tables / "variance_summary.csv", tables / "variance_summary.md",
                f"{experiment.name}: gradient-variance trace at closed-form fields (mean and 95 % CI over repetitions)")
    settings = experiment.settings
    verdicts = gaussian_verdicts(whole, axes, settings["zero_tol"], settings["alpha"])
    write_table(verdicts, tables / "variance_verdicts.csv", tables / "variance_verdicts.md",
                f"{experiment.name}: claims C1-C3 (A against B; p_value: one-sided Wilcoxon of A < B)")

    own = frame[(frame["field"] == frame["coupling"]) & (frame["sigma"] > 0)]
    first = {a: sorted(frame[a].unique())[0] for a in axes if a not in ("angle",)}
    sub = _bin_mid(own)
    for a, v in first.items():
        sub = sub[sub[a] == v]
    grid = sns.relplot(data=sub, kind="line", x="t", y="grad_var_trace", hue="field", style="sigma", col="angle",
                       row="space", errorbar=("ci", 95), seed=0,
                       marker="o", height=2.6, aspect=1.2, facet_kws={"sharey": False})
    grid.set(yscale="log")
    grid.figure.suptitle(", ".join(f"{a}={v}" for a, v in first.items()) + " (own pairs)", y=1.02, fontsize=9)
    save_figure(grid.figure, figures / "variance_t.png")

    whole_own = own[own["t_bin"].isna()]
    grid = sns.relplot(data=whole_own, kind="line", x="angle", y="grad_var_trace", hue="field", style="sigma",
                       col="dim", row="space", errorbar=("ci", 95), seed=0, marker="o", height=2.6, aspect=1.2,
                       facet_kws={"sharey": False})
    grid.set(yscale="log")
    save_figure(grid.figure, figures / "variance_angle.png")

    c3 = whole[(whole["field"] == "ot") & whole["coupling"].isin(["independent", "rotated"])]
    if 120.0 in set(c3["angle"]):
        c3 = c3[c3["angle"] == 120.0]
    grid = sns.catplot(data=c3, kind="bar", x="sigma", y="grad_var_trace", hue="coupling", col="dim", row="space",
                       errorbar=("ci", 95), seed=0, height=2.6, aspect=1.1, sharey=False)
    grid.set(yscale="log")
    grid.figure.suptitle("at the OT field: independent vs rotated pairs", y=1.02, fontsize=9)
    save_figure(grid.figure, figures / "variance_c3.png")
    plt.close("all")
